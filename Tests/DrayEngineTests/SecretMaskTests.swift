import NIOCore
import Testing

@testable import DrayEngine

@Suite("Secrets masked in the bytes, before lines are cut")
struct SecretMaskTests {
    /// The log lines `reads` give, fed as one stream would be, read by read.
    private func logged(_ secrets: [String], _ reads: [String], maxLineBytes: Int = LineSplitter.defaultMaxLineBytes)
        -> [String]
    {
        let mask = SecretMask(secrets)
        var carry = SecretMask.Carry()
        var splitter = LineSplitter(maxLineBytes: maxLineBytes)
        var lines: [[UInt8]] = []
        for read in reads { lines += splitter.feedBytes(mask.feed(ByteBuffer(string: read), carry: &carry)) }
        lines += splitter.feedBytes(mask.finish(&carry))
        if let last = splitter.finishBytes() { lines.append(last) }
        return lines.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("a value with CRLF inside, printed as it is, is masked whole and line by line")
    func crlf() {
        let secret = "LINE-ONE\r\nLINE-TWO"
        #expect(logged([secret], ["LINE-ONE\r\nLINE-TWO\n"]) == ["***"])
        #expect(logged([secret], ["LINE-ONE\nLINE-TWO\n"]) == ["***"])
        #expect(logged([secret], ["a LINE-ONE b\n", "LINE-TWO\n"]) == ["a *** b", "***"])
        #expect(logged(["ONE\nTWO"], ["ONE\r\nTWO\n"]) == ["***"])
    }

    @Test("a value followed by a combining mark is masked; the mark stays")
    func combiningMarks() {
        #expect(logged(["hunter2"], ["x hunter2\u{301} y\n"]) == ["x ***\u{301} y"])
        #expect(logged(["hunter2"], ["hunter2\u{FE0F}\n"]) == ["***\u{FE0F}"])
    }

    @Test("a value split across reads, byte by byte, is masked")
    func acrossReads() {
        let text = "before s3cr3t-value after\n"
        let bytes = text.map(String.init)
        #expect(logged(["s3cr3t-value"], bytes) == ["before *** after"])
        #expect(logged(["s3cr3t-value"], ["s3cr3t-val", "ue"]) == ["***"])
        #expect(logged(["s3cr3t-value"], ["s3cr3t-val"]) == ["s3cr3t-val"])
    }

    @Test("the longer of two values that begin alike is masked whole across reads")
    func longestAcrossReads() {
        #expect(logged(["abc", "abcdef"], ["xx abcd", "ef yy abc zz\n"]) == ["xx *** yy *** zz"])
    }

    @Test("a value that straddles the line cut leaks none of its bytes")
    func lineCut() {
        let secret = "TOPSECRETVALUE"
        let line = String(repeating: "a", count: 60) + secret + String(repeating: "b", count: 20) + "\n"
        let logged = logged([secret], [line], maxLineBytes: 64)
        #expect(logged.count == 1)
        #expect(!logged[0].contains("TOP"), "\(logged)")
    }

    @Test("with no secrets, a read passes through as it is")
    func noSecrets() {
        let mask = SecretMask([])
        var carry = SecretMask.Carry()
        #expect(mask.isEmpty)
        #expect(mask.feed(ByteBuffer(string: "abc"), carry: &carry) == ByteBuffer(string: "abc"))
    }
}
