import DrayEngine
import NIOCore
import Testing

@Suite("Cutting output into log lines")
struct LineSplitterTests {
    @Test("lines end at \\n, with \\r\\n kept apart, across chunks")
    func lines() {
        var splitter = LineSplitter()
        #expect(splitter.feed(ByteBuffer(string: "one\r\ntw")) == ["one"])
        #expect(splitter.feed(ByteBuffer(string: "o\n\nthree")) == ["two", ""])
        #expect(splitter.finish() == "three")
        #expect(splitter.finish() == nil)
    }

    @Test("a line longer than the limit is cut, and the log says how long it was")
    func longLine() {
        var splitter = LineSplitter(maxLineBytes: 4)
        #expect(splitter.feed(ByteBuffer(string: "abcdef")).isEmpty)
        #expect(splitter.feed(ByteBuffer(string: "gh\nok\n")) == ["abcd … [line cut: 8 bytes]", "ok"])
    }

    @Test("invalid UTF-8 becomes U+FFFD in the log")
    func binary() {
        var splitter = LineSplitter()
        #expect(splitter.feed(ByteBuffer(bytes: [0x61, 0xFF, 0x0A])) == ["a\u{FFFD}"])
    }
}

@Suite("Decoding log lines as UTF-8")
struct UTF8RepairTests {
    func repaired(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { String(repairingUTF8: $0) } }

    @Test("ill-formed sequences become U+FFFD exactly as the standard library makes them")
    func edgeCases() {
        let cases: [[UInt8]] = [
            [], Array("plain text".utf8), Array("héllo wörld €𝄞".utf8),
            [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0xA0],
            [0xE0, 0xA0, 0x41], [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x90, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF5, 0x80], [0xFF, 0xFE, 0x00, 0x41],
            [0xEF, 0xBF, 0xBD], [0x41, 0xE2, 0x82], [0xE2, 0x82, 0xE2, 0x82, 0xAC], Array(0...255),
        ]
        for bytes in cases {
            #expect(repaired(bytes) == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }

    @Test("random bytes decode as the standard library decodes them")
    func randomBytes() {
        var generator = SystemRandomNumberGenerator()
        // Bytes drawn mostly from the ranges where UTF-8's rules are subtle.
        let interesting: [UInt8] = [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1,
            0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...12, using: &generator)
            let bytes = (0..<count).map { _ in
                Bool.random(using: &generator)
                    ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            #expect(repaired(bytes) == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }
}
