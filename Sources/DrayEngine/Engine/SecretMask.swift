import NIOCore

/// Shows each secret value in a step's output as `***`, as CI systems mask secrets.
///
/// It works on the bytes a step writes, before they are cut into lines: a secret that spans
/// two reads, that ends a line cut at ``LineSplitter/maxLineBytes``, or that a combining mark
/// follows (which a comparison of Swift strings would take for another character) is masked
/// all the same. Each value is looked for as it is, with its line ends as LF and as CRLF, and
/// line by line, since a program may print a value of several lines one line at a time.
struct SecretMask: Sendable {
    /// The byte strings to mask, longest first, so that a secret that contains another is masked whole.
    private let patterns: [[UInt8]]
    /// Whether a byte begins some pattern: most bytes are passed over with one look-up.
    private let starts: [Bool]

    init(_ secrets: [String]) {
        var variants: Set<[UInt8]> = []
        for secret in secrets where !secret.isEmpty {
            let lf = secret.replacingOccurrences(of: "\r\n", with: "\n")
            variants.insert(Array(secret.utf8))
            variants.insert(Array(lf.utf8))
            variants.insert(Array(lf.replacingOccurrences(of: "\n", with: "\r\n").utf8))
            for line in lf.split(separator: "\n") {
                let piece = line.hasSuffix("\r") ? line.dropLast() : line
                if !piece.isEmpty { variants.insert(Array(piece.utf8)) }
            }
        }
        patterns = variants.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        var starts = [Bool](repeating: false, count: 256)
        for pattern in patterns { starts[Int(pattern[0])] = true }
        self.starts = starts
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// What one stream holds back between reads: the bytes at the end of a read that may be
    /// the beginning of a secret.
    struct Carry: Sendable {
        fileprivate var bytes: [UInt8] = []
    }

    /// `chunk` masked, after what `carry` held back; the end that may begin a secret is held
    /// back in `carry` for the next read. The chunk itself when there is nothing to mask.
    func feed(_ chunk: ByteBuffer, carry: inout Carry) -> ByteBuffer {
        if carry.bytes.isEmpty {
            let (masked, held) = chunk.withUnsafeReadableBytes { mask($0, final: false) }
            carry.bytes = held
            return masked.map { ByteBuffer(bytes: $0) } ?? chunk.getSlice(
                at: chunk.readerIndex, length: chunk.readableBytes - held.count)!
        }
        let joined = carry.bytes + Array(buffer: chunk)
        let (masked, held) = joined.withUnsafeBytes { mask($0, final: false) }
        carry.bytes = held
        return ByteBuffer(bytes: masked ?? Array(joined.dropLast(held.count)))
    }

    /// What `carry` still holds, masked, at the end of the stream.
    func finish(_ carry: inout Carry) -> ByteBuffer {
        defer { carry.bytes = [] }
        return ByteBuffer(bytes: apply(carry.bytes))
    }

    /// `bytes` with every secret replaced by `***`; as they were when there is none.
    func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard !patterns.isEmpty else { return bytes }
        return bytes.withUnsafeBytes { mask($0, final: true).masked } ?? bytes
    }

    /// Masks `data`: the masked bytes (nil when nothing was masked), and unless `final`, the
    /// end of `data` that may begin a secret, left out of them.
    private func mask(_ data: UnsafeRawBufferPointer, final: Bool) -> (masked: [UInt8]?, held: [UInt8]) {
        var out: [UInt8]?
        var copied = 0
        var index = 0
        scan: while index < data.count {
            guard starts[Int(data[index])] else {
                index += 1
                continue
            }
            let left = data.count - index
            for pattern in patterns {
                if pattern.count > left {
                    // A longer secret may go on in the next read: hold it back rather than
                    // mask a shorter one now and show the rest.
                    if !final, Self.matches(pattern[..<left], data, at: index) {
                        let held = Array(UnsafeRawBufferPointer(rebasing: data[index...]))
                        guard var masked = out else { return (nil, held) }
                        masked += UnsafeRawBufferPointer(rebasing: data[copied..<index])
                        return (masked, held)
                    }
                } else if Self.matches(pattern[...], data, at: index) {
                    if out == nil { out = [] }
                    out! += UnsafeRawBufferPointer(rebasing: data[copied..<index])
                    out! += [UInt8(ascii: "*"), UInt8(ascii: "*"), UInt8(ascii: "*")]
                    index += pattern.count
                    copied = index
                    continue scan
                }
            }
            index += 1
        }
        if out != nil { out! += UnsafeRawBufferPointer(rebasing: data[copied...]) }
        return (out, [])
    }

    private static func matches(_ pattern: ArraySlice<UInt8>, _ data: UnsafeRawBufferPointer, at index: Int) -> Bool {
        var position = index
        for byte in pattern {
            guard data[position] == byte else { return false }
            position += 1
        }
        return true
    }
}
