import AsyncHTTPClient
import DockerClient
import DrayEngine
import NIOCore
import NIOFileSystem

/// A tar archive of a step's input files, read from their spools as the engine takes it, so
/// that inputs of any size go into the container in bounded memory.
struct InputArchive: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let files: [ContainerSpec.InputFile]
    let sizes: [Int]

    /// The archive of `files`, with their sizes read now.
    init(_ files: [ContainerSpec.InputFile]) async throws {
        self.files = files
        var sizes: [Int] = []
        for file in files {
            guard let info = try await FileSystem.shared.info(forFileAt: file.localPath) else {
                throw DrayError(.storage, "the input \(file.localPath) is not in the spool")
            }
            sizes.append(Int(info.size))
        }
        self.sizes = sizes
    }

    /// The request body: the archive, with its length known in advance.
    var body: HTTPClientRequest.Body {
        var length = Tar.end.readableBytes
        for (file, size) in zip(files, sizes) {
            length += Tar.fileHeader(at: file.containerPath, size: size, mode: 0o444).readableBytes
            length += size + Tar.padding(size)
        }
        return .stream(self, length: .known(Int64(length)))
    }

    func makeAsyncIterator() -> Iterator {
        Iterator(archive: self)
    }

    struct Iterator: AsyncIteratorProtocol {
        let archive: InputArchive
        var file = 0
        var offset = 0
        var handle: ReadFileHandle?
        var ended = false

        mutating func next() async throws -> ByteBuffer? {
            guard !ended else { return nil }
            guard file < archive.files.count else {
                ended = true
                return Tar.end
            }
            let size = archive.sizes[file]
            guard let handle else {
                handle = try await FileSystem.shared.openFile(forReadingAt: archive.files[file].localPath)
                return Tar.fileHeader(at: archive.files[file].containerPath, size: size, mode: 0o444)
            }
            if offset < size {
                let chunk = try await handle.readChunk(
                    fromAbsoluteOffset: Int64(offset), length: .bytes(Int64(Swift.min(1 << 20, size - offset))))
                guard chunk.readableBytes > 0 else {
                    try await handle.close()
                    throw DrayError(.storage, "the input \(archive.files[file].localPath) ended before its size")
                }
                offset += chunk.readableBytes
                return chunk
            }
            try await handle.close()
            self.handle = nil
            var padding = ByteBuffer()
            padding.writeRepeatingByte(0, count: Tar.padding(size))
            file += 1
            offset = 0
            // An empty padding would read as the stream's end: go straight on.
            return padding.readableBytes > 0 ? padding : try await next()
        }
    }
}
