import NIOCore

/// Reads RESP2 replies off the wire, one whole reply at a time: a reply that has not fully
/// arrived is left in the buffer until it has.
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// Deeper nesting than Redis ever sends is treated as a protocol error.
    static let maximumDepth = 32

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try Self.parse(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    /// Parses one value from the front of `buffer`, or returns nil (consuming nothing that
    /// matters: callers work on a copy) when more bytes are needed.
    static func parse(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth <= maximumDepth else { throw RedisError.protocolError("replies nested too deeply") }
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = readLine(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(String(buffer: line))
        case UInt8(ascii: "-"):
            return .error(String(buffer: line))
        case UInt8(ascii: ":"):
            return .integer(try integer(line))
        case UInt8(ascii: "$"):
            let length = try integer(line)
            if length < 0 { return .bulkString(nil) }
            guard buffer.readableBytes >= length + 2 else { return nil }
            let bytes = buffer.readSlice(length: length)!
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw RedisError.protocolError("a bulk string does not end with CRLF")
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            let count = try integer(line)
            if count < 0 { return .array(nil) }
            var values: [RESPValue] = []
            values.reserveCapacity(min(count, 4096))
            for _ in 0..<count {
                guard let value = try parse(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return .array(values)
        default:
            throw RedisError.protocolError("unknown reply type byte \(type)")
        }
    }

    /// The bytes up to the next CRLF, consuming the CRLF; nil when it has not arrived.
    private static func readLine(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: 0x0D), view.index(after: cr) < view.endIndex else { return nil }
        let length = cr - view.startIndex
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func integer(_ line: ByteBuffer) throws -> Int {
        guard let value = Int(String(buffer: line)) else {
            throw RedisError.protocolError("\"\(String(buffer: line))\" is not an integer")
        }
        return value
    }
}
