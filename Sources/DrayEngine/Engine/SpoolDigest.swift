import Crypto
import Foundation
import NIOCore
import NIOFileSystem

/// The SHA-256 and size of a spooled output, kept beside it as `step-N.out.sha256`: the
/// runner takes it as it writes the spool, so that a download's `ETag` and `Digest`, and the
/// cache key of the steps that read it, cost no second reading of the bytes.
public struct SpoolDigest: Sendable, Equatable {
    /// Lowercase hexadecimal.
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
        self.sha256 = sha256
        self.size = size
    }

    /// The digest in base64, as a `Digest: sha-256=` header gives it.
    public var base64: String {
        Data(
            stride(from: 0, to: sha256.count, by: 2).map { offset in
                let start = sha256.index(sha256.startIndex, offsetBy: offset)
                return UInt8(sha256[start..<sha256.index(start, offsetBy: 2)], radix: 16) ?? 0
            }
        ).base64EncodedString()
    }

    /// Where the digest of `output` is kept.
    public static func path(of output: FilePath) -> FilePath {
        FilePath(output.string + ".sha256")
    }

    /// The digest of `output`: the one kept beside it when it still matches the file's size,
    /// else read from the file and kept (a spool written before digests were kept, or a file
    /// a step passed on). Nil when `output` cannot be read.
    public static func of(_ output: FilePath) async -> SpoolDigest? {
        guard let size = await JobRunner.size(of: output) else { return nil }
        if let kept = await kept(for: output), kept.size == size { return kept }
        guard let digest = try? await compute(of: output) else { return nil }
        try? await digest.keep(for: output)
        return digest
    }

    /// The digest kept beside `output`, whatever its size now.
    static func kept(for output: FilePath) async -> SpoolDigest? {
        let buffer: ByteBuffer
        do {
            buffer = try await FileSystem.shared.withFileHandle(forReadingAt: path(of: output)) { handle in
                try await handle.readToEnd(maximumSizeAllowed: .bytes(200))
            }
        } catch {
            return nil
        }
        let parts = String(buffer: buffer).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, parts[0].count == 64, let size = Int64(parts[1]) else { return nil }
        return SpoolDigest(sha256: String(parts[0]), size: size)
    }

    /// Reads `file` once and hashes it.
    public static func compute(of file: FilePath) async throws -> SpoolDigest {
        var running = RunningDigest()
        try await FileSystem.shared.withFileHandle(forReadingAt: file) { handle in
            for try await chunk in handle.readChunks(chunkLength: .kibibytes(256)) { running.update(chunk) }
        }
        return running.finish()
    }

    /// Writes the digest beside `output`, replacing what was there.
    public func keep(for output: FilePath) async throws {
        try await FileSystem.shared.withFileHandle(
            forWritingAt: Self.path(of: output), options: .newFile(replaceExisting: true)
        ) { handle in
            _ = try await handle.write(contentsOf: ByteBuffer(string: "\(sha256) \(size)\n"), toAbsoluteOffset: 0)
        }
    }

    /// Forgets the digest kept beside `output`, which is about to be written again.
    static func forget(for output: FilePath) async {
        _ = try? await FileSystem.shared.removeItem(at: path(of: output))
    }
}

/// A SHA-256 taken over bytes as they pass.
public struct RunningDigest: Sendable {
    private var hasher = SHA256()
    private var size: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        size += Int64(bytes.readableBytes)
    }

    public func finish() -> SpoolDigest {
        SpoolDigest(sha256: hasher.finalize().hex, size: size)
    }
}

extension Sequence<UInt8> {
    /// The bytes in lowercase hexadecimal, as digests and a tap's `hex` format write them.
    package var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
