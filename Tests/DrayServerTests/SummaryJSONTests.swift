import DrayEngine
import Foundation
import NIOCore
import Testing

@testable import DrayServer

@Suite("Job summaries and dates written as JSON by hand")
struct SummaryJSONTests {
    /// The same JSON value as Foundation's encoder with the API's date strategy.
    private func expectSameAsEncoder(_ jobs: [JobSummary], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = Data(SummaryJSON.array(jobs).readableBytesView)
        let encoded = try JSONResponse.encoder.encode(jobs)
        let mine = try #require(try JSONSerialization.jsonObject(with: written) as? [[String: Any]])
        let theirs = try #require(try JSONSerialization.jsonObject(with: encoded) as? [[String: Any]])
        #expect(mine.count == theirs.count, sourceLocation: sourceLocation)
        for (a, b) in zip(mine, theirs) {
            #expect(NSDictionary(dictionary: a).isEqual(to: b), "\(a) against \(b)", sourceLocation: sourceLocation)
        }
    }

    @Test("every field, and the ones that are nil left out, as the encoder writes them")
    func fields() throws {
        let created = Date(timeIntervalSince1970: 1_700_000_000.123)
        try expectSameAsEncoder([
            JobSummary(
                id: "a", name: "Word Job", status: .complete, phase: .complete, stepsCompleted: 3, totalSteps: 3,
                currentStep: nil, reason: nil, createdAt: created, startedAt: created + 0.5, finishedAt: created + 2),
            JobSummary(
                id: "b", name: nil, status: .error, phase: .failed, stepsCompleted: 1, totalSteps: 3, currentStep: 2,
                reason: .timeout, createdAt: created, startedAt: nil, finishedAt: nil),
        ])
        try expectSameAsEncoder([])
    }

    @Test("names with quotes, backslashes, control characters, slashes and any Unicode")
    func strings() throws {
        let names = [
            #"say "hi""#, #"back\slash"#, "tab\tnew\nline\r", "\u{0}\u{1}\u{1f}", "a/b", "é 日本 🚀", "\u{2028}", "",
        ]
        try expectSameAsEncoder(
            names.enumerated().map { index, name in
                JobSummary(
                    id: "\(index)", name: name, status: .running, phase: .queued, stepsCompleted: 0, totalSteps: 1,
                    currentStep: nil, reason: nil, createdAt: Date(timeIntervalSince1970: 0), startedAt: nil,
                    finishedAt: nil)
            })
    }

    @Test("dates from 1970 to 2200, to the millisecond, as ISO 8601 gives them")
    func dates() throws {
        var generator = SystemRandomNumberGenerator()
        var dates = [0, 0.0005, 0.9999, 59.9996, 86_399.9999, 951_782_400, 4_107_542_400, 1_700_000_000.9995].map {
            Date(timeIntervalSince1970: $0)
        }
        dates += (0..<2000).map { _ in
            Date(timeIntervalSince1970: Double.random(in: 0..<7_258_118_400, using: &generator))
        }
        // Every answer's dates (the encoder's and the summaries') are written by one function:
        // it writes what Foundation's ISO 8601 style with fractional seconds writes.
        for date in dates {
            var written = ByteBuffer()
            JSONResponse.writeDate(date, to: &written)
            #expect(
                String(buffer: written) == date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
                "\(date.timeIntervalSince1970)")
        }
    }
}
