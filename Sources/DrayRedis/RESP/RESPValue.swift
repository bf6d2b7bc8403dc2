import Foundation
import NIOCore

/// A RESP2 reply from Redis. Bulk strings are bytes: Redis never changes them.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    /// An error reply: `ERR …`, `WRONGTYPE …`, `NOAUTH …`.
    case error(String)
    case integer(Int)
    /// A bulk string; nil is RESP's null bulk string (a missing key or field).
    case bulkString(ByteBuffer?)
    /// An array; nil is RESP's null array.
    case array([RESPValue]?)

    /// The value as text: a simple or bulk string (UTF-8), or an integer; nil for null and the rest.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(buffer: bytes)
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The value as an integer: an integer reply, or a string of digits.
    public var int: Int? {
        if case .integer(let value) = self { return value }
        return string.flatMap { Int($0) }
    }

    /// A bulk string's bytes; nil for a null and the rest.
    public var data: Data? {
        if case .bulkString(let bytes?) = self { return Data(bytes.readableBytesView) }
        return nil
    }

    /// The elements of an array; nil for a null array and the rest.
    public var array: [RESPValue]? {
        if case .array(let values?) = self { return values }
        return nil
    }

    /// True for RESP's null bulk string and null array.
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }
}
