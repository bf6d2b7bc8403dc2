import Foundation
import NIOCore
import NIOFileSystem

/// Writing bytes to this process's standard output.
enum StandardOutput {
    /// Copies the file at `path` to stdout, byte for byte. A reader that went away
    /// (`dray run … | head`) ends the copy quietly, as it ends a shell pipe.
    static func copy(_ path: FilePath) async throws {
        signal(SIGPIPE, SIG_IGN)
        try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
            for try await chunk in handle.readChunks(chunkLength: .kibibytes(256)) {
                guard write(chunk) else { return }
            }
        }
    }

    /// Writes all of `buffer`; false when the reader is gone.
    static func write(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}
