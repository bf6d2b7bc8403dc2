import DrayEngine
import DrayEngineTesting
import Foundation
import NIOFileSystem
import Testing

/// Pipe graphs: their validation, their order, and the scheduler on the fake runtime. A step's
/// `SCRIPT` says what it does: `upper` upper-cases its input, `fail` exits 1, `cat` passes its
/// input on, anything else is printed after its input.
@Suite("Pipe graphs: validation and scheduling")
struct JobGraphTests {
    static func step(_ name: String, _ script: String, needs: [String]? = nil) -> Step {
        var step = Step(name: name, source: "fake", environment: [.init(variable: "SCRIPT", value: script)])
        step.needs = needs
        return step
    }

    static func problems(_ json: String) -> [String] {
        JobDocument.inspect(Data(json.utf8)).problems
    }

    static let runtime = FakeRuntime { spec, input in
        let script = spec.environment.first { $0.hasPrefix("SCRIPT=") }.map { String($0.dropFirst(7)) } ?? ""
        switch script {
        case "upper": return FakeRuntime.Outcome(writes: [(.stdout, input.uppercased())])
        case "fail": return FakeRuntime.Outcome(writes: [(.stderr, "failing\n")], exitCode: 1)
        case "cat": return FakeRuntime.Outcome(writes: [(.stdout, input)])
        case "files":
            let text = spec.inputFiles.map {
                "\($0.containerPath)=" + ((try? String(contentsOfFile: $0.localPath.string, encoding: .utf8)) ?? "?")
            }
            return FakeRuntime.Outcome(writes: [(.stdout, text.joined(separator: ";"))])
        default: return FakeRuntime.Outcome(writes: [(.stdout, input + script + "\n")])
        }
    }

    func run(_ job: Job, runtime: FakeRuntime = Self.runtime, state: JobState? = nil) async throws -> (JobState, String)
    {
        let spool = FilePath(FileManager.default.temporaryDirectory.appendingPathComponent("dray-graph-\(UUID())").path)
        let state = await JobRunner(runtime: runtime).run(
            job, id: "JOB", spoolDirectory: spool, observer: RecordingObserver(), state: state)
        let last = JobGraph(job).order.last ?? 0
        let output = (try? String(contentsOfFile: JobRunner.outputPath(step: last, in: spool).string, encoding: .utf8))
        return (state, output ?? "")
    }

    @Test("each mistake of a graph is named: names, unknown needs with the meant one, itself, cycles, streaming")
    func validation() {
        #expect(
            Self.problems(#"{"steps":[{"name":"split","source":"a"},{"name":"b","source":"b","needs":["spilt"]}]}"#)
                == [#"steps[1].needs[0]: no step is named "spilt"; did you mean "split"?"#])
        #expect(
            Self.problems(#"{"steps":[{"source":"a"},{"name":"b","source":"b","needs":["b"]}]}"#)
                == [
                    "steps[0].name is required when steps say needs: needs name the steps",
                    "steps[1].needs[0]: a step cannot need itself",
                ])
        #expect(
            Self.problems(#"{"steps":[{"name":"a","source":"a"},{"name":"a","source":"b","needs":[]}]}"#)
                == [#"steps[1].name "a" is also the name of steps[0]: names must be unique"#])
        #expect(
            Self.problems(
                #"{"steps":[{"name":"a","source":"a","needs":["c"]},{"name":"b","source":"b","needs":["a"]},{"name":"c","source":"c","needs":["b"]}]}"#
            ) == [#"steps[0].needs makes a cycle: "a", "b", "c" need each other, so none can start"#])
        #expect(
            Self.problems(
                #"{"steps":[{"name":"a","source":"a"},{"name":"b","source":"b","needs":["a"],"inputs":"files"}]}"#)
                == ["steps[1].inputs needs two needs or more: it says how several inputs are given"])
        #expect(
            Self.problems(
                #"{"streaming":true,"steps":[{"name":"a","source":"a","output":"/o"},{"name":"b","source":"b","needs":["a"]}]}"#
            ) == [
                "steps[0].output cannot be a file in a streaming job when other steps need it: they read as it runs"
            ])
        #expect(
            Self.problems(#"{"parallelism":2,"steps":[{"source":"a","when":"failure"}]}"#)
                == [
                    "steps[0].when needs needs: a chain stops at its first failure",
                    "parallelism needs steps with needs: a chain runs one step at a time",
                ])
        #expect(
            Self.problems(#"{"steps":[{"name":"a","source":"a","needs":[]}],"parallelism":0}"#)
                == ["parallelism must be a whole number from 1 to 1000"])
    }

    @Test("a diamond's order and depths; a chain is a graph of one need each")
    func order() {
        let diamond = Job(steps: [
            Self.step("join", "", needs: ["upper", "md5"]), Self.step("upper", "", needs: ["split"]),
            Self.step("split", "", needs: []), Self.step("md5", "", needs: ["split"]),
        ])
        let graph = JobGraph(diamond)
        #expect(graph.isGraph && graph.order == [2, 1, 3, 0] && graph.depth == [2, 1, 0, 1])
        #expect(graph.needs[0] == [1, 3] && graph.consumers[2] == [1, 3])
        let chain = JobGraph(Job(steps: [Step(source: "a"), Step(source: "b"), Step(source: "c")]))
        #expect(!chain.isGraph && chain.needs == [[], [0], [1]] && chain.order == [0, 1, 2])
    }

    @Test("a diamond, spooled and streaming: the fan-out reaches both, concat joins them in the order of needs")
    func diamond() async throws {
        for streaming in [false, true] {
            var job = Job(steps: [
                Self.step("split", "a\nb"), Self.step("upper", "upper", needs: ["split"]),
                Self.step("tag", "tagged", needs: ["split"]), Self.step("join", "cat", needs: ["upper", "tag"]),
            ])
            job.streaming = streaming
            let (state, output) = try await run(job)
            #expect(state.status == .complete, "\(state.error ?? "")")
            #expect(output == "A\nB\n" + "a\nb\ntagged\n", "streaming: \(streaming)")
            #expect(state.stepsCompleted == 4 && state.steps.allSatisfy { $0.status == .complete })
        }
    }

    @Test("a failed branch: steps that need it are skipped, failure and always steps run, the job is in error")
    func failure() async throws {
        var cleanup = Self.step("cleanup", "cleaned", needs: ["broken"])
        cleanup.when = .failure
        var report = Self.step("report", "reported", needs: ["after", "fine"])
        report.when = .always
        let job = Job(steps: [
            Self.step("start", "go", needs: []), Self.step("broken", "fail", needs: ["start"]),
            Self.step("fine", "ok", needs: ["start"]), Self.step("after", "cat", needs: ["broken"]), cleanup, report,
        ])
        let (state, _) = try await run(job)
        #expect(state.status == .error && state.error == #"step 2 "broken" exited with code 1"#)
        #expect(
            state.steps.map(\.status) == [.complete, .failed, .complete, .skipped, .complete, .complete])
        #expect(state.stepsCompleted == 4)
    }

    @Test("streaming: the first failure stops the streamed steps; then failure and always steps run on spools")
    func streamingFailure() async throws {
        var cleanup = Self.step("cleanup", "cleaned", needs: ["broken"])
        cleanup.when = .failure
        var report = Self.step("report", "cat", needs: ["start"])
        report.when = .always
        var job = Job(steps: [
            Self.step("start", "go", needs: []), Self.step("broken", "fail", needs: ["start"]),
            Self.step("after", "cat", needs: ["broken"]), cleanup, report, Self.step("last", "cat", needs: ["report"]),
        ])
        job.streaming = true
        let (state, output) = try await run(job)
        #expect(state.status == .error && state.error == #"step 2 "broken" exited with code 1"#)
        #expect(state.steps[3].status == .complete && state.steps[4].status == .complete)
        #expect(state.steps[5].status == .complete && output == "go\n")
        #expect(state.steps[1].status == .failed)
    }

    @Test("a graph's output is its last completed step's: a failure step listed last is skipped")
    func output() async throws {
        var alert = Self.step("alert", "alerted", needs: ["join"])
        alert.when = .failure
        let job = Job(steps: [Self.step("a", "x", needs: []), Self.step("join", "upper", needs: ["a"]), alert])
        let (state, _) = try await run(job)
        #expect(state.status == .complete && state.steps[2].status == .skipped)
        #expect(state.outputStep == 1)
        #expect(JobState(stepCount: 3).outputStep == 2, "a chain's is its last step's")
    }

    @Test("files fan-in: each input under its name, stdin empty")
    func files() async throws {
        var join = Self.step("join", "files", needs: ["one", "two"])
        join.inputs = .files
        let job = Job(steps: [Self.step("one", "1", needs: []), Self.step("two", "2", needs: []), join])
        let (state, output) = try await run(job)
        #expect(state.status == .complete)
        #expect(output == "/dray/inputs/one=1\n;/dray/inputs/two=2\n")
    }

    @Test("resume reruns only the failed branch and what it skipped, on the spools of the rest")
    func resume() async throws {
        let job = Job(steps: [
            Self.step("start", "go", needs: []), Self.step("broken", "fail", needs: ["start"]),
            Self.step("fine", "ok", needs: ["start"]), Self.step("join", "cat", needs: ["broken", "fine"]),
        ])
        let spool = FilePath(FileManager.default.temporaryDirectory.appendingPathComponent("dray-graph-\(UUID())").path)
        let first = await JobRunner(runtime: Self.runtime).run(
            job, id: "JOB", spoolDirectory: spool, observer: RecordingObserver())
        #expect(first.steps.map(\.status) == [.complete, .failed, .complete, .skipped])
        var again = first
        again.requeueForResume(of: job)
        #expect(again.steps.map(\.status) == [.complete, .waiting, .complete, .waiting] && again.stepsCompleted == 2)
        #expect(again.resumeInputs(of: job) == [0, 2])
        let fixed = FakeRuntime { spec, input in
            let script = spec.environment.first { $0.hasPrefix("SCRIPT=") }.map { String($0.dropFirst(7)) } ?? ""
            return FakeRuntime.Outcome(writes: [(.stdout, script == "fail" ? input.uppercased() : input)])
        }
        let second = await JobRunner(runtime: fixed).run(
            job, id: "JOB", spoolDirectory: spool, observer: RecordingObserver(), state: again)
        #expect(second.status == .complete && second.stepsCompleted == 4)
        let ran = await fixed.record.specs.map { $0.labels["dray.step"] ?? "" }
        #expect(ran.sorted() == ["2", "4"], "only the failed step and the one it skipped")
        let output = try String(contentsOfFile: JobRunner.outputPath(step: 3, in: spool).string, encoding: .utf8)
        #expect(output == "GO\n" + "go\nok\n")
    }

    @Test("parallelism 1 runs one step at a time; without it the branches overlap")
    func parallelism() async throws {
        let slow = FakeRuntime { spec, input in
            Thread.sleep(forTimeInterval: 0.2)
            return FakeRuntime.Outcome(writes: [(.stdout, input)])
        }
        var job = Job(steps: [
            Self.step("a", "", needs: []), Self.step("b", "", needs: []), Self.step("c", "", needs: []),
        ])
        job.parallelism = 1
        let (serial, _) = try await run(job, runtime: slow)
        let starts = serial.steps.compactMap(\.startedAt).sorted()
        let ends = serial.steps.compactMap(\.finishedAt).sorted()
        #expect(starts.count == 3 && ends.count == 3)
        #expect(starts[1] >= ends[0] && starts[2] >= ends[1], "one at a time")
    }
}
