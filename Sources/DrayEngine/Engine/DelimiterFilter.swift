import NIOCore

/// Passes on only the lines strictly between a line equal to `begin` and a line equal to
/// `end`, byte for byte, whatever the length of the lines around them.
///
/// Lines are compared without their `\n` or `\r\n`. Several delimited blocks may follow
/// each other. Memory is bounded by the delimiters' length, not the lines'.
public struct DelimiterFilter: Sendable {
    private let begin: [UInt8]
    private let end: [UInt8]
    private let longest: Int
    private var inBlock = false
    /// The start of the current line while it might still be a delimiter.
    private var head: [UInt8] = []
    /// The current line is known not to be a delimiter.
    private var decided = false

    public init(begin: String, end: String) {
        self.begin = Array(begin.utf8)
        self.end = Array(end.utf8)
        longest = max(self.begin.count, self.end.count) + 2
    }

    /// Filters `bytes`, calling `emit` with what passes.
    public mutating func feed(_ bytes: ByteBuffer, emit: (ByteBuffer) async throws -> Void) async rethrows {
        var rest = bytes
        while rest.readableBytes > 0 {
            let newline = rest.readableOffset(of: UInt8(ascii: "\n"))
            let length = newline.map { $0 + 1 } ?? rest.readableBytes
            let segment = rest.readSlice(length: length)!
            let endsLine = newline != nil
            if decided {
                if inBlock { try await emit(segment) }
            } else {
                head.append(contentsOf: segment.readableBytesView)
                if endsLine {
                    try await lineEnded(emit: emit)
                } else if head.count > longest {
                    decided = true
                    if inBlock { try await emit(ByteBuffer(bytes: head)) }
                    head.removeAll()
                }
            }
            if endsLine { decided = false }
        }
    }

    /// Handles a last line without a newline.
    public mutating func finish(emit: (ByteBuffer) async throws -> Void) async rethrows {
        if !decided && !head.isEmpty { try await lineEnded(emit: emit) }
    }

    private mutating func lineEnded(emit: (ByteBuffer) async throws -> Void) async rethrows {
        var line = head[...]
        if line.last == UInt8(ascii: "\n") { line = line.dropLast() }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        if inBlock && line.elementsEqual(end) {
            inBlock = false
        } else if !inBlock && line.elementsEqual(begin) {
            inBlock = true
        } else if inBlock {
            try await emit(ByteBuffer(bytes: head))
        }
        head.removeAll(keepingCapacity: true)
    }
}
