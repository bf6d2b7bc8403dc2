import NIOCore
import Testing

@testable import DrayRedis

@Suite("RESP2 encoding and decoding")
struct RESPDecoderTests {
    private func decodeAll(_ chunks: [[UInt8]]) throws -> [RESPValue] {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
        }
        #expect(buffer.readableBytes == 0, "every byte was consumed")
        return values
    }

    @Test("every reply type, null bulk strings and arrays, and nesting")
    func replyTypes() throws {
        let wire = "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n"
        #expect(
            try decodeAll([Array(wire.utf8)]) == [
                .simpleString("OK"), .error("ERR wrong"), .integer(-42), .bulkString(ByteBuffer(string: "hello")),
                .bulkString(nil), .array(nil), .array([.array([.integer(1)]), .bulkString(ByteBuffer())]),
            ])
    }

    @Test("a reply split at every byte decodes the same, once whole")
    func splitEverywhere() throws {
        let wire = Array("*3\r\n$3\r\nfoo\r\n:7\r\n$4\r\na\r\nb\r\n".utf8)
        let expected: [RESPValue] = [
            .array([.bulkString(ByteBuffer(string: "foo")), .integer(7), .bulkString(ByteBuffer(string: "a\r\nb"))])
        ]
        #expect(try decodeAll(wire.map { [$0] }) == expected)
        for cut in 1..<wire.count {
            #expect(try decodeAll([Array(wire[..<cut]), Array(wire[cut...])]) == expected)
        }
    }

    @Test("bulk strings are binary-safe both ways")
    func binarySafe() throws {
        let bytes: [UInt8] = [0, 13, 10, 255, 254, 36, 42]
        let command = RedisCommand("SET", ["k", .bytes(bytes)])
        #expect(String(buffer: command.bytes).hasPrefix("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\n"))
        var reply = ByteBuffer(string: "$7\r\n")
        reply.writeBytes(bytes)
        reply.writeString("\r\n")
        #expect(try decodeAll([Array(reply.readableBytesView)]) == [.bulkString(ByteBuffer(bytes: bytes))])
    }

    @Test("commands encode their arguments' UTF-8 byte counts")
    func encodeUnicode() {
        let command = RedisCommand("RPUSH", ["k", "ünï", 12])
        #expect(String(buffer: command.bytes) == "*4\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$5\r\nünï\r\n$2\r\n12\r\n")
        let lengths = RedisCommand(
            "RPUSH", ["", .bytes(Array(repeating: 120, count: 10)), .string(String(repeating: "x", count: 100))])
        #expect(
            String(buffer: lengths.bytes).hasPrefix("*4\r\n$5\r\nRPUSH\r\n$0\r\n\r\n$10\r\nxxxxxxxxxx\r\n$100\r\nxxx"))
    }

    @Test("what is not RESP is a protocol error")
    func garbage() {
        #expect(throws: RedisError.self) { try decodeAll([Array("?what\r\n".utf8)]) }
        #expect(throws: RedisError.self) { try decodeAll([Array(":12x\r\n".utf8)]) }
        #expect(throws: RedisError.self) { try decodeAll([Array("$2\r\nabcd".utf8)]) }
    }
}
