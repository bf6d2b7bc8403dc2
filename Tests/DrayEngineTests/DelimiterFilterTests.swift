import DrayEngine
import NIOCore
import Testing

@Suite("Delimited output")
struct DelimiterFilterTests {
    private func filter(_ chunks: [String], begin: String = "BEGIN", end: String = "END") async -> String {
        var filter = DelimiterFilter(begin: begin, end: end)
        var output = ByteBuffer()
        for chunk in chunks {
            await filter.feed(ByteBuffer(string: chunk)) { output.writeImmutableBuffer($0) }
        }
        await filter.finish { output.writeImmutableBuffer($0) }
        return String(buffer: output)
    }

    @Test("only the lines strictly between the delimiters pass, byte for byte")
    func between() async {
        #expect(await filter(["noise\nBEGIN\nkeep 1\r\nkeep 2\nEND\nnoise\n"]) == "keep 1\r\nkeep 2\n")
    }

    @Test("delimiters split across chunks are found")
    func split() async {
        #expect(await filter(["noise\nBE", "GIN\nke", "ep\nEN", "D\nafter"]) == "keep\n")
    }

    @Test("several blocks pass, and a last line without a newline inside a block is kept as it is")
    func blocks() async {
        #expect(await filter(["BEGIN\na\nEND\nx\nBEGIN\nb\nc"]) == "a\nb\nc")
    }

    @Test("a CRLF delimiter line counts, and a long line inside a block passes whole")
    func longLines() async {
        let long = String(repeating: "x", count: 100_000)
        #expect(await filter(["BEGIN\r\n", long, long, "\nEND\r\n"]) == long + long + "\n")
    }

    @Test("a line that only starts like a delimiter is not one")
    func prefix() async {
        #expect(await filter(["BEGIN\nENDING\nEND\n"]) == "ENDING\n")
        #expect(await filter(["BEGINNING\nx\n"]) == "")
    }

    @Test("the same text can open and close a block")
    func same() async {
        #expect(await filter(["---\na\n---\nb\n---\nc\n---\n"], begin: "---", end: "---") == "a\nc\n")
    }
}
