import NIOCore

/// One Redis command, encoded as RESP2 sends it: an array of bulk strings.
public struct RedisCommand: Sendable {
    /// The command's name, for messages.
    public let name: String
    /// The encoded command.
    var bytes: ByteBuffer

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.name = name
        var bytes = ByteBuffer()
        bytes.writeString("*\(arguments.count + 1)\r\n")
        Self.write(.string(name), to: &bytes)
        for argument in arguments { Self.write(argument, to: &bytes) }
        self.bytes = bytes
    }

    private static func write(_ argument: RedisArgument, to bytes: inout ByteBuffer) {
        switch argument {
        case .string(let text):
            let utf8 = text.utf8
            bytes.writeString("$\(utf8.count)\r\n")
            bytes.writeString(text)
        case .bytes(let buffer):
            bytes.writeString("$\(buffer.readableBytes)\r\n")
            bytes.writeImmutableBuffer(buffer)
        }
        bytes.writeStaticString("\r\n")
    }
}

/// An argument of a ``RedisCommand``: text (sent as UTF-8) or bytes.
public enum RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .string(String(value)) }
    public static func int(_ value: Int) -> RedisArgument { .string(String(value)) }
}
