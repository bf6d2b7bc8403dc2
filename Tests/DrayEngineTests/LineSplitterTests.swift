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
