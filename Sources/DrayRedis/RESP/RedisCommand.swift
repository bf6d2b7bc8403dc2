import NIOCore

/// One Redis command, encoded as RESP2 sends it: an array of bulk strings.
public struct RedisCommand: Sendable {
    /// The command's name, for messages.
    public let name: String
    /// The encoded command.
    var bytes: ByteBuffer

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.init(name, arguments: arguments)
    }

    /// A command whose arguments come from several arrays (a script's keys, then its arguments),
    /// encoded without joining them into one array first: a log append has thousands.
    init(_ name: String, arguments: some Collection<RedisArgument>) {
        self.name = name
        // Sized once: a bulk string's header and ending take at most 24 bytes.
        var size = 16 + 24 + name.utf8.count
        for argument in arguments { size += 24 + argument.count }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(size)
        Self.writeHeader(UInt8(ascii: "*"), arguments.count + 1, to: &bytes)
        Self.write(.string(name), to: &bytes)
        for argument in arguments { Self.write(argument, to: &bytes) }
        self.bytes = bytes
    }

    private static func write(_ argument: RedisArgument, to bytes: inout ByteBuffer) {
        writeHeader(UInt8(ascii: "$"), argument.count, to: &bytes)
        switch argument {
        case .string(let text): bytes.writeString(text)
        case .bytes(let array): bytes.writeBytes(array)
        }
        bytes.writeStaticString("\r\n")
    }

    /// `*N\r\n` or `$N\r\n`, the decimal digits written one by one rather than through a string.
    private static func writeHeader(_ marker: UInt8, _ count: Int, to bytes: inout ByteBuffer) {
        bytes.writeInteger(marker)
        var divisor = 1
        while divisor <= count / 10 { divisor *= 10 }
        var rest = count
        while divisor > 0 {
            bytes.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
        bytes.writeStaticString("\r\n")
    }
}

/// An argument of a ``RedisCommand``: text (sent as UTF-8) or bytes.
public enum RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes([UInt8])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .string(String(value)) }
    public static func int(_ value: Int) -> RedisArgument { .string(String(value)) }

    /// Its length in bytes, as its bulk string's header says.
    var count: Int {
        switch self {
        case .string(let text): text.utf8.count
        case .bytes(let array): array.count
        }
    }
}
