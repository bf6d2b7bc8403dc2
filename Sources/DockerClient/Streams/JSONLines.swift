import Foundation
import NIOCore

/// Cuts the engine's stream of JSON progress lines (an image pull's, an import's) into lines.
/// A line is at most ``maxLineBytes``; the rest of a longer one is dropped, as no progress
/// message is that long.
struct JSONLines {
    static let maxLineBytes = 1 << 20
    private var pending: [UInt8] = []

    /// The lines that `bytes` completes.
    mutating func feed(_ bytes: ByteBuffer) -> [String] {
        var lines: [String] = []
        for byte in bytes.readableBytesView {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            } else if pending.count < Self.maxLineBytes {
                pending.append(byte)
            }
        }
        return lines
    }

    /// The last line, when the stream ended without a newline.
    mutating func finish() -> String? {
        pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
    }
}
