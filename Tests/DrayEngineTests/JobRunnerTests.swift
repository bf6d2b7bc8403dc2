import DrayEngine
import DrayEngineTesting
import Foundation
import NIOCore
import NIOFileSystem
import Synchronization
import Testing

/// The variable `SCRIPT` of a spec's environment, which names what the fake step does.
private func script(_ spec: ContainerSpec) -> String {
    spec.environment.first { $0.hasPrefix("SCRIPT=") }.map { String($0.dropFirst(7)) } ?? ""
}

private func step(_ script: String, name: String? = nil, output: OutputChannel? = nil, source: String = "fake") -> Step
{
    Step(name: name, source: source, environment: [.init(variable: "SCRIPT", value: script)], output: output)
}

@Suite("The engine's logic, on a fake runtime")
struct JobRunnerTests {
    /// upper: upper-cases its input; fail N: exits N; both: writes out and err; file: writes a file.
    let runtime = FakeRuntime { spec, input in
        let words = script(spec).split(separator: " ")
        switch words.first {
        case "echo": return .init(writes: [(.stdout, words.dropFirst().joined(separator: " ") + "\n")])
        case "upper": return .init(writes: [(.stdout, input.uppercased())])
        case "fail": return .init(writes: [(.stderr, "failing\n")], exitCode: Int32(words[1])!)
        case "both": return .init(writes: [(.stdout, "to stdout\n"), (.stderr, "to stderr\n"), (.stdout, "more")])
        case "file": return .init(writes: [(.stdout, "log only\n")], file: "from the file\n")
        case "env": return .init(writes: [(.stdout, spec.environment.joined(separator: ",") + "\n")])
        default: return .init()
        }
    }

    private func run(_ job: Job) async throws -> (JobState, String, RecordingObserver) {
        try await FileSystem.shared.withTemporaryDirectory { _, spool in
            let observer = RecordingObserver()
            let state = await JobRunner(runtime: runtime).run(job, id: "JOB", spoolDirectory: spool, observer: observer)
            var output = ""
            if state.status == .complete {
                let path = JobRunner.outputPath(step: job.steps.count - 1, in: spool)
                output = String(
                    buffer: try await FileSystem.shared.withFileHandle(forReadingAt: path) {
                        try await $0.readToEnd(maximumSizeAllowed: .mebibytes(1))
                    })
            }
            return (state, output, observer)
        }
    }

    @Test("a chain's steps are made ahead (the first at once, each next while the step before runs) as they will run")
    func madeAhead() async throws {
        var job = Job(steps: [step("echo a"), step("upper"), step("upper"), step("upper")])
        job.steps[2].refresh = true
        let (state, _, _) = try await run(job)
        #expect(state.status == .complete)
        // Not the step that pulls its image again: what it runs is made when it runs.
        let prepared = runtime.prepared.all
        #expect(prepared.map { $0.labels["dray.step"] } == ["1", "2", "4"])
        let ran = await runtime.record.specs
        for spec in prepared {
            let run = try #require(ran.first { $0.labels == spec.labels })
            #expect(run.environment == spec.environment && run.image == spec.image && run.options == spec.options)
        }
    }

    @Test("each step says when its first byte came; a step that wrote nothing has none; the gaps follow")
    func firstByte() async throws {
        let (state, _, _) = try await run(Job(steps: [step("echo a"), step("quiet"), step("echo b")]))
        #expect(state.status == .complete)
        let steps = state.steps
        #expect(steps[0].firstByteAt != nil && steps[1].firstByteAt == nil && steps[2].firstByteAt != nil)
        #expect(steps[0].startedAt! <= steps[0].firstByteAt! && steps[0].firstByteAt! <= steps[0].finishedAt!)
        #expect(state.stepGaps.count == 1)
        #expect(state.stepGaps[0] == steps[2].firstByteAt!.timeIntervalSince(steps[1].finishedAt!))
    }

    @Test("each step's stdout is the next step's stdin; the job completes")
    func pipeline() async throws {
        let (state, output, observer) = try await run(Job(steps: [step("echo hello"), step("upper")]))
        #expect(state.status == .complete)
        #expect(state.phase == .complete)
        #expect(state.stepsCompleted == 2)
        #expect(state.steps.map(\.exitCode) == [0, 0])
        #expect(output == "HELLO\n")
        #expect(
            await observer.lines == [
                LogLine(step: 0, stream: .stdout, text: "hello"), LogLine(step: 1, stream: .stdout, text: "HELLO"),
            ])
        let specs = await runtime.record.specs
        #expect(specs[0].stdin == nil)
        #expect(specs[0].labels == ["dray.job": "JOB", "dray.step": "1"])
        #expect(specs[1].stdin != nil)
    }

    @Test("the stderr channel passes stderr on, and both streams go to the log in order")
    func stderrChannel() async throws {
        let (state, output, observer) = try await run(Job(steps: [step("both", output: .stderr), step("upper")]))
        #expect(state.status == .complete)
        #expect(output == "TO STDERR\n")
        #expect(await observer.lines.prefix(3).map(\.text) == ["to stdout", "to stderr", "more"])
        #expect(await observer.lines[1].stream == .stderr)
    }

    @Test("the file channel passes on the file the runtime copied out, not the streams")
    func fileChannel() async throws {
        let (state, output, _) = try await run(Job(steps: [step("file", output: .file("/out/x")), step("upper")]))
        #expect(state.status == .complete)
        #expect(output == "FROM THE FILE\n")
        #expect(await runtime.record.specs[0].outputFile?.containerPath == "/out/x")
    }

    @Test("a non-zero exit ends the job in error, names the step, and later steps do not run")
    func failingStep() async throws {
        let (state, _, observer) = try await run(
            Job(steps: [step("echo a"), step("fail 3", name: "upper"), step("echo never")]))
        #expect(state.status == .error)
        #expect(state.phase == .failed)
        #expect(state.stepsCompleted == 1)
        #expect(state.error == #"step 2 "upper" exited with code 3"#)
        #expect(state.steps.map(\.exitCode) == [0, 3, nil])
        #expect(state.steps[2].startedAt == nil)
        #expect(await runtime.record.specs.count == 2)
        #expect(await observer.lines.last == LogLine(step: 1, stream: .stderr, text: "failing"))
    }

    @Test("a missing image ends the job in error with the runtime's message")
    func missingImage() async throws {
        let (state, _, _) = try await run(Job(steps: [step("echo a", source: "missing")]))
        #expect(state.status == .error)
        #expect(state.error == "step 1: image missing:latest not found")
        #expect(state.steps[0].startedAt == nil)
    }

    @Test("the job's environment goes to every step and the step's wins; then where the step runs, unless the job says")
    func environment() async throws {
        var job = Job(
            environment: [.init(variable: "A", value: "job"), .init(variable: "SCRIPT", value: "ignored")],
            steps: [step("env")])
        job.steps[0].environment?.append(.init(variable: "A", value: "step"))
        let (_, output, _) = try await run(job)
        #expect(
            output
                == "A=step,SCRIPT=env,DRAY_JOB_ID=JOB,DRAY_JOB_NAME=,DRAY_STEP_INDEX=1,DRAY_STEP_NAME=,DRAY_ATTEMPT=1\n"
        )
        job.name = "named"
        job.environment?.append(.init(variable: "DRAY_JOB_ID", value: "mine"))
        let (_, own, _) = try await run(job)
        #expect(
            own
                == "A=step,SCRIPT=env,DRAY_JOB_ID=mine,DRAY_JOB_NAME=named,DRAY_STEP_INDEX=1,DRAY_STEP_NAME=,DRAY_ATTEMPT=1\n"
        )
    }

    @Test("delimiters select the lines passed on; the log keeps every line")
    func delimiters() async throws {
        var first = step("both")
        first.beginDelimiter = "to stdout"
        first.endDelimiter = "never"
        let (_, output, observer) = try await run(Job(steps: [first]))
        #expect(output == "more")
        #expect(await observer.lines.count == 3)
    }

    @Test("refresh reaches the runtime")
    func refresh() async throws {
        var job = Job(steps: [step("echo a"), step("echo b")])
        job.steps[1].refresh = true
        _ = try await run(job)
        #expect(await runtime.record.pulls.map(\.1) == [false, true])
    }

    @Test("states go running, then complete, and status only takes the seed's values")
    func states() async throws {
        let (_, _, observer) = try await run(Job(steps: [step("echo a")]))
        let states = await observer.states
        #expect(states.map(\.phase) == [.pulling, .running, .complete])
        #expect(states.map(\.status) == [.running, .running, .complete])
    }

    @Test("a retried step that fails twice then succeeds completes the job; each attempt's code is kept")
    func retrySucceeds() async throws {
        let attempts = Mutex(0)
        let flaky = FakeRuntime { spec, input in
            guard script(spec) == "flaky" else { return .init(writes: [(.stdout, "in\n")]) }
            let attempt = attempts.withLock { count in
                count += 1
                return count
            }
            return attempt < 3
                ? .init(writes: [(.stderr, "attempt \(attempt) failed\n")], exitCode: 9)
                : .init(writes: [(.stdout, input.uppercased())])
        }
        var retried = step("flaky")
        retried.retries = 3
        retried.retryDelay = 0.01
        try await FileSystem.shared.withTemporaryDirectory { _, spool in
            let observer = RecordingObserver()
            let state = await JobRunner(runtime: flaky).run(
                Job(steps: [step("echo"), retried]), id: "JOB", spoolDirectory: spool, observer: observer)
            #expect(state.status == .complete)
            #expect(state.steps[1].attempts == [9, 9, 0])
            #expect(state.steps[1].exitCode == 0)
            let specs = await flaky.record.specs
            #expect(specs.dropFirst().allSatisfy { $0.stdin == JobRunner.outputPath(step: 0, in: spool) })
            #expect(await observer.lines.map(\.text) == ["in", "attempt 1 failed", "attempt 2 failed", "IN"])
        }
    }

    @Test("run(from:) starts at that step on the earlier step's spooled output, and runs no earlier step")
    func resumeFromStep() async throws {
        try await FileSystem.shared.withTemporaryDirectory { _, spool in
            try await FileSystem.shared.withFileHandle(
                forWritingAt: JobRunner.outputPath(step: 0, in: spool), options: .newFile(replaceExisting: true)
            ) { _ = try await $0.write(contentsOf: ByteBuffer(string: "kept\n"), toAbsoluteOffset: 0) }
            var failed = JobState(stepCount: 2)
            failed.stepsCompleted = 1
            failed.fail("step 2 exited with code 3")
            failed.requeue(from: 1)
            let state = await JobRunner(runtime: runtime).run(
                Job(steps: [step("fail 1"), step("upper")]), id: "JOB", spoolDirectory: spool,
                observer: RecordingObserver(), state: failed, from: 1)
            #expect(state.status == .complete)
            #expect(state.stepsCompleted == 2)
            #expect(await runtime.record.specs.map(script) == ["upper"])
            let output = try await FileSystem.shared.withFileHandle(
                forReadingAt: JobRunner.outputPath(step: 1, in: spool)
            ) {
                try await $0.readToEnd(maximumSizeAllowed: .mebibytes(1))
            }
            #expect(String(buffer: output) == "KEPT\n")
        }
    }

    @Test("streaming: every step runs at once, joined by pipes; the job completes when all exit 0")
    func streaming() async throws {
        let (state, output, observer) = try await run(
            Job(steps: [step("echo hello"), step("upper"), step("upper")], streaming: true))
        #expect(state.status == .complete)
        #expect(state.stepsCompleted == 3)
        #expect(output == "HELLO\n")
        #expect(await observer.lines.map(\.text) == ["hello", "HELLO", "HELLO"])
        #expect(await runtime.record.specs.allSatisfy { $0.stdin == nil })
    }

    @Test("streaming: a failing step fails the job, like pipefail, whatever the last step says")
    func streamingFailure() async throws {
        let (state, _, _) = try await run(
            Job(steps: [step("echo hello"), step("fail 5", name: "bad"), step("upper")], streaming: true))
        #expect(state.status == .error)
        #expect(state.error == #"step 2 "bad" exited with code 5"#)
    }

    @Test("a streaming job refuses retries and a file output before the last step")
    func streamingValidation() {
        var retried = step("x")
        retried.retries = 1
        let problems = JobDocument.problems(
            in: Job(
                steps: [step("a", output: .file("/out")), retried, step("c", output: .file("/o"))], streaming: true))
        #expect(
            problems == [
                "steps[0].output cannot be a file in a streaming job, except on the last step: the next step reads as it runs",
                "steps[1].retries needs \"durable\": true in a streaming job: without it, its input is not kept",
            ])
    }
}
