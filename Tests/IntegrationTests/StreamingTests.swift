import DrayEngine
import Foundation
import Testing

/// Streaming jobs (`"streaming": true`) on the real engine: every step at once, joined by pipes.
@Suite("Streaming jobs on the real Docker engine")
struct StreamingTests {
    @Test("bytes flow through every step at once, unchanged, with backpressure; the job completes")
    func pipeline() async throws {
        // 2 MB through three steps; the middle one reads slowly, so the first must wait for it.
        let job = Job(
            steps: [
                TestEngine.step("seq 1 300000", name: "numbers"),
                TestEngine.step("while read -r line; do echo \"$line\"; done | cat", name: "slow"),
                TestEngine.step("wc -c; echo done >&2", name: "count"),
            ], streaming: true)
        let expected = (1...300_000).reduce(0) { $0 + String($1).utf8.count + 1 }
        let outcome = try await TestEngine.run(job)
        #expect(outcome.state.status == .complete, "\(outcome.state.error ?? "")")
        #expect(outcome.state.stepsCompleted == 3)
        #expect(outcome.state.steps.map(\.exitCode) == [0, 0, 0])
        #expect(String(decoding: outcome.output, as: UTF8.self).trimmingCharacters(in: .whitespaces) == "\(expected)\n")
        #expect(outcome.log.contains("done"), "the last step's stderr is logged")
    }

    @Test("a failing step fails the job and stops the others, as pipefail; no container is left")
    func pipefail() async throws {
        var forever = TestEngine.step("while true; do echo y; done", name: "forever")
        forever.stopGracePeriod = 1
        let outcome = try await TestEngine.run(
            Job(
                steps: [
                    forever,
                    TestEngine.step("read -r first; exit 5", name: "picky"),
                    TestEngine.step("cat", name: "rest"),
                ], streaming: true))
        #expect(outcome.state.status == .error)
        #expect(outcome.state.error == #"step 2 "picky" exited with code 5"#)
        #expect(outcome.state.steps[1].exitCode == 5)
        #expect(outcome.state.steps[0].exitCode == nil, "the endless first step was stopped")
        #expect(outcome.state.steps[0].finishedAt != nil, "a stopped step says when it ended")
    }

    @Test("a step that stops reading early is normal: the steps before it are not blocked")
    func earlyExit() async throws {
        let outcome = try await TestEngine.run(
            Job(
                steps: [TestEngine.step("seq 1 20000"), TestEngine.step("head -n 2"), TestEngine.step("cat")],
                streaming: true))
        #expect(outcome.state.status == .complete, "\(outcome.state.error ?? "")")
        #expect(outcome.output == Array("1\n2\n".utf8))
    }
}
