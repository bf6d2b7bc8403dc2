import DrayEngine
import Testing

@Suite("Keeping a log within --max-log-bytes")
struct LogBudgetTests {
    static func lines(_ range: Range<Int>) -> [LogLine] {
        range.map { LogLine(step: $0 < 15 ? 0 : 1, stream: .stdout, text: String(format: "line %04d", $0)) }
    }

    @Test("the first half as it comes, the last half at the end, and one line between that says what was dropped")
    func headAndTail() {
        var budget = LogBudget(limit: 100)
        let all = Self.lines(0..<30)  // 9 bytes each
        var kept = budget.admit(Array(all[0..<7])) + budget.admit(Array(all[7...]))
        #expect(kept == Array(all[0..<5]), "45 bytes of 50 as they come")
        kept += budget.finish()
        #expect(Array(kept.suffix(5)) == Array(all[25...]), "the last 45 bytes of 50")
        #expect(kept.count == 11)
        #expect(kept[5].text == "… [20 lines (180 bytes) dropped here: the log is over --max-log-bytes 100]")
        #expect(kept[5].step == 0, "the step of the first line dropped")
        #expect(budget.finish().isEmpty, "given once")
    }

    @Test("a log within the limit is kept whole, and no limit keeps everything as it comes")
    func within() {
        var budget = LogBudget(limit: 1000)
        let all = Self.lines(0..<20)
        let now = budget.admit(all)
        #expect(now + budget.finish() == all)
        var off = LogBudget(limit: nil)
        #expect(off.admit(all) == all && off.finish().isEmpty)
    }
}
