import NIOCore

/// Cuts a byte stream into log lines, keeping at most ``maxLineBytes`` of any one line
/// so that memory stays bounded whatever a step writes.
///
/// Lines end at `\n`; a `\r` before it is dropped. A longer line is cut, and the log says
/// how long it was. Bytes that are not UTF-8 become U+FFFD in the log; the spool keeps them.
public struct LineSplitter: Sendable {
    public static let defaultMaxLineBytes = 64 * 1024

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    /// Bytes of the current line that were not kept.
    private var dropped = 0

    public init(maxLineBytes: Int = LineSplitter.defaultMaxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// The lines that `bytes` completes, decoded as UTF-8 (invalid bytes become U+FFFD).
    public mutating func feed(_ bytes: ByteBuffer) -> [String] {
        feedBytes(bytes).map { String(repairingUTF8: $0) }
    }

    /// The last line, decoded, when the stream ended without a newline.
    public mutating func finish() -> String? {
        finishBytes().map { String(repairingUTF8: $0) }
    }

    /// The lines that `bytes` completes, as bytes.
    public mutating func feedBytes(_ bytes: ByteBuffer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        bytes.withUnsafeReadableBytes { raw in
            var start = 0
            while start < raw.count {
                let newline = raw.firstIndex(of: UInt8(ascii: "\n"), from: start)
                let end = newline ?? raw.count
                if newline != nil, pending.isEmpty, dropped == 0, end - start <= maxLineBytes {
                    // A whole line in this chunk, the usual case: copied once, to its own size.
                    let last = end > start && raw[end - 1] == UInt8(ascii: "\r") ? end - 1 : end
                    lines.append(Array(UnsafeRawBufferPointer(rebasing: raw[start..<last])))
                } else {
                    keep(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    if newline != nil { lines.append(takeLine()) }
                }
                start = end + 1
            }
        }
        return lines
    }

    /// The last line, as bytes, when the stream ended without a newline.
    public mutating func finishBytes() -> [UInt8]? {
        pending.isEmpty && dropped == 0 ? nil : takeLine()
    }

    private mutating func keep(_ bytes: UnsafeRawBufferPointer) {
        let kept = min(bytes.count, max(0, maxLineBytes - pending.count))
        if kept > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<kept])) }
        dropped += bytes.count - kept
    }

    private mutating func takeLine() -> [UInt8] {
        if dropped == 0, pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        var line = pending
        if dropped > 0 { line += Array(" … [line cut: \(pending.count + dropped) bytes]".utf8) }
        pending.removeAll(keepingCapacity: pending.count <= 4096)
        dropped = 0
        return line
    }
}
