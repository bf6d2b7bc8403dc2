import DockerClient
import NIOCore
import Testing

@Suite("The tar archives of the archive endpoints")
struct TarTests {
    private func read(_ archive: ByteBuffer, chunk: Int) async throws -> [UInt8] {
        var reader = TarFileReader()
        var content: [UInt8] = []
        var rest = archive
        while rest.readableBytes > 0 {
            let slice = rest.readSlice(length: min(chunk, rest.readableBytes))!
            try await reader.feed(slice) { content += $0.readableBytesView }
        }
        try reader.finish()
        return content
    }

    /// A one-file archive with `content`, as the engine sends it.
    private func archive(name: String, content: [UInt8], type: UInt8 = UInt8(ascii: "0")) -> ByteBuffer {
        var header = [UInt8](repeating: 0, count: 512)
        for (i, byte) in name.utf8.enumerated() { header[i] = byte }
        for (i, byte) in String(String(content.count, radix: 8).reversed()).reversed().enumerated() {
            header[124 + i] = byte.asciiValue!
        }
        header[156] = type
        var buffer = ByteBuffer(bytes: header)
        buffer.writeBytes(content)
        buffer.writeRepeatingByte(0, count: (512 - content.count % 512) % 512 + 1024)
        return buffer
    }

    @Test("a file's bytes come out whole, whatever the chunk size")
    func content() async throws {
        let content = (0..<3000).map { UInt8($0 % 256) }
        for chunk in [1, 100, 512, 513, 4096] {
            #expect(
                try await read(archive(name: "data.bin", content: content), chunk: chunk) == content, "chunk \(chunk)")
        }
    }

    @Test("the empty-file archive reads back as one empty file, long paths too")
    func emptyFile() async throws {
        #expect(Tar.emptyFile(at: "/out/data.txt").readableBytes == 512 * 3)
        #expect(try await read(Tar.emptyFile(at: "/out/data.txt"), chunk: 100).isEmpty)
        let long = "/" + String(repeating: "folder/", count: 30) + "file"
        #expect(try await read(Tar.emptyFile(at: long), chunk: 512).isEmpty)
    }

    @Test("a folder or a link is not a file")
    func notAFile() async throws {
        await #expect(throws: TarFileReader.Problem.notAFile(type: UInt8(ascii: "5"))) {
            try await read(archive(name: "dir", content: [], type: UInt8(ascii: "5")), chunk: 512)
        }
    }

    @Test("an archive that ends inside the file is truncated")
    func truncated() async throws {
        var whole = archive(name: "f", content: [UInt8](repeating: 1, count: 1000))
        let cut = whole.readSlice(length: 700)!
        await #expect(throws: TarFileReader.Problem.truncated) { try await read(cut, chunk: 512) }
    }

    @Test("a file archive reads back with its bytes and its mode, whatever its size")
    func fileWithContents() async throws {
        for size in [1, 129, 511, 512, 513, 3000] {
            let content = (0..<size).map { UInt8($0 % 251) }
            let archive = Tar.file(at: "/pause", contents: content, mode: 0o555)
            #expect(archive.readableBytes % 512 == 0)
            #expect(try await read(archive, chunk: 100) == content, "size \(size)")
            #expect(archive.getString(at: 100, length: 7) == "0000555")
        }
    }
}
