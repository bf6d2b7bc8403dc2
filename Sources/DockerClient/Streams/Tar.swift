import NIOCore

/// Just enough of the tar format for the archive endpoints: an archive of one file to put into
/// a container (or import as an image), and the reading of the one file a container's archive
/// holds.
public enum Tar {
    static let blockSize = 512

    /// A tar archive holding one empty, world-writable regular file at `path`, relative to `/`.
    /// The engine creates the missing folders above it.
    public static func emptyFile(at path: String) -> ByteBuffer {
        file(at: path, contents: [], mode: 0o666)
    }

    /// A tar archive holding one regular file at `path`, relative to `/`, with `contents` and
    /// the permission bits `mode`.
    public static func file(at path: String, contents: [UInt8], mode: Int) -> ByteBuffer {
        var archive = fileHeader(at: path, size: contents.count, mode: mode)
        archive.writeBytes(contents)
        archive.writeRepeatingByte(0, count: padding(contents.count))
        archive.writeImmutableBuffer(end)
        return archive
    }

    /// What comes before a regular file's `size` bytes of contents at `path`, relative to `/`:
    /// its header, after a PAX header when its name is longer than 100 bytes or its size
    /// needs more than the 11 octal digits of the header's field (8 GiB).
    public static func fileHeader(at path: String, size: Int, mode: Int) -> ByteBuffer {
        let name = String(path.drop(while: { $0 == "/" }))
        var archive = ByteBuffer()
        var records: [UInt8] = []
        if name.utf8.count > 100 { records += paxRecord("path", name) }
        let largest = 1 << 33 - 1
        if size > largest { records += paxRecord("size", String(size)) }
        if !records.isEmpty {
            archive.writeBytes(header(name: "PaxHeader", size: records.count, mode: 0o666, type: UInt8(ascii: "x")))
            archive.writeBytes(records)
            archive.writeRepeatingByte(0, count: padding(records.count))
        }
        archive.writeBytes(
            header(
                name: String(decoding: name.utf8.prefix(100), as: UTF8.self), size: min(size, largest), mode: mode,
                type: UInt8(ascii: "0")))
        return archive
    }

    /// The end of an archive: two zero blocks.
    public static var end: ByteBuffer {
        var end = ByteBuffer()
        end.writeRepeatingByte(0, count: 2 * blockSize)
        return end
    }

    /// The zero bytes after a file's contents of `size` bytes, up to the next block.
    public static func padding(_ size: Int) -> Int { (blockSize - size % blockSize) % blockSize }

    private static func header(name: String, size: Int, mode: Int, type: UInt8) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: String, at offset: Int) {
            for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        block[156] = type
        put("ustar\u{0}00", at: 257)
        put("        ", at: 148)
        let sum = block.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148)
        block[155] = UInt8(ascii: " ")
        return block
    }

    /// A PAX record, `"LEN key=value\n"`, where LEN counts the whole record, itself included.
    private static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array("\(length)\(body)".utf8)
    }
}

/// Reads a tar stream and passes on the content of its first file, byte for byte, in
/// bounded memory. Metadata entries (PAX, GNU long names) are skipped.
public struct TarFileReader: Sendable {
    public enum Problem: Error, Sendable, Equatable {
        /// The archive's first entry is not a regular file: a folder, a link, a device.
        case notAFile(type: UInt8)
        /// The archive ended before a file, or in the middle of it.
        case truncated
        case malformedHeader
    }

    private enum State: Sendable {
        case header
        case skip(Int)
        case file(remaining: Int)
        case done
    }

    private var pending = ByteBuffer()
    private var state = State.header

    public init() {}

    /// Feeds the next bytes of the archive, calling `emit` with the file's content.
    public mutating func feed(_ bytes: ByteBuffer, emit: (ByteBuffer) async throws -> Void) async throws {
        var bytes = bytes
        pending.writeBuffer(&bytes)
        while pending.readableBytes > 0 {
            switch state {
            case .done:
                pending.clear()
            case .skip(let count):
                let taken = min(count, pending.readableBytes)
                pending.moveReaderIndex(forwardBy: taken)
                state = taken == count ? .header : .skip(count - taken)
            case .file(let remaining):
                let taken = min(remaining, pending.readableBytes)
                try await emit(pending.readSlice(length: taken)!)
                state = taken == remaining ? .done : .file(remaining: remaining - taken)
            case .header:
                guard let block = pending.readBytes(length: Tar.blockSize) else {
                    pending.discardReadBytes()
                    return
                }
                try readHeader(block)
            }
        }
        pending.clear()
    }

    /// Checks that the file was read to its end.
    public func finish() throws(Problem) {
        guard case .done = state else { throw .truncated }
    }

    private mutating func readHeader(_ block: [UInt8]) throws(Problem) {
        if block.allSatisfy({ $0 == 0 }) { throw .truncated }
        let size = try Self.number(block[124..<136])
        let type = block[156]
        switch type {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            state = size == 0 ? .done : .file(remaining: size)
        case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
            let skipped = size + Tar.padding(size)
            state = skipped == 0 ? .header : .skip(skipped)
        default:
            throw .notAFile(type: type)
        }
    }

    /// A header number: octal text, or base-256 when the first byte's high bit is set.
    private static func number(_ field: ArraySlice<UInt8>) throws(Problem) -> Int {
        if let first = field.first, first & 0x80 != 0 {
            return field.dropFirst().reduce(Int(first & 0x7F)) { $0 << 8 | Int($1) }
        }
        let digits = field.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }
        guard let value = Int(String(decoding: digits, as: UTF8.self), radix: 8) else {
            if digits.isEmpty { return 0 }
            throw .malformedHeader
        }
        return value
    }
}
