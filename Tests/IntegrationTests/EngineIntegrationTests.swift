import DockerClient
import DrayEngine
import Foundation
import Testing

private func step(
    _ script: String, name: String? = nil, output: OutputChannel? = nil, environment: [EnvironmentVariable] = []
) -> Step {
    TestEngine.step(script, name: name, output: output, environment: environment)
}

/// The tests that take an engine run on Docker and on Podman's Docker-compatible service. Each
/// covers one of Podman's differences: attach upgrades only with `Connection: Upgrade` (stdout and
/// stderr arrive apart), `StdinOnce` is ignored (stdin ends only by half-closing the attach
/// connection), and the archive PUT (the file channel's empty file and folders).
@Suite("Jobs on the real engines")
struct EngineIntegrationTests {
    @Test("the stderr channel passes stderr on; the log keeps both streams", arguments: TestEngine.Kind.allCases)
    func stderrChannel(engine: TestEngine.Kind) async throws {
        let outcome = try await TestEngine.run(
            Job(steps: [step("echo to-stdout; echo to-stderr >&2", output: .stderr), step("tr a-z A-Z")]), on: engine)
        #expect(outcome.state.status == .complete)
        #expect(outcome.output == Array("TO-STDERR\n".utf8))
        #expect(outcome.lines.filter { $0.step == 0 }.map(\.text).sorted() == ["to-stderr", "to-stdout"])
        #expect(outcome.lines.first { $0.text == "to-stderr" }?.stream == .stderr)
    }

    @Test(
        "the file channel copies the file out through the archive API, creating its folders",
        arguments: TestEngine.Kind.allCases)
    func fileChannel(engine: TestEngine.Kind) async throws {
        let outcome = try await TestEngine.run(
            Job(steps: [
                step(
                    "echo log-only; printf 'file\\000data\\n' > /out/deep/data.bin", output: .file("/out/deep/data.bin")
                ),
                step("cat"),
            ]), on: engine)
        #expect(outcome.state.status == .complete)
        #expect(outcome.output == Array("file".utf8) + [0] + Array("data\n".utf8))
        #expect(outcome.log.contains("log-only"))
    }

    @Test(
        "a job's steps join its sandbox's network, one after another or streaming; a step that names a network keeps it; none is left",
        arguments: TestEngine.Kind.allCases, [false, true])
    func sandbox(engine: TestEngine.Kind, streaming: Bool) async throws {
        // Each step prints its network namespace and its network interfaces.
        let probe = "readlink /proc/self/ns/net; ls /sys/class/net; cat > /dev/null"
        var own = step(probe)
        own.network = "none"
        var job = Job(steps: [step(probe), step(probe), own])
        job.streaming = streaming
        func seen(_ outcome: TestEngine.Outcome) -> [[String]] {
            (0..<3).map { index in outcome.lines.filter { $0.step == index }.map(\.text) }
        }

        let shared = seen(try await TestEngine.run(job, on: engine))
        #expect(shared[0].contains("eth0"), "\(shared)")
        #expect(shared[0] == shared[1], "the first two steps share one network: \(shared)")
        #expect(shared[2].dropFirst() == ["lo"] && shared[2].first != shared[0].first, "\(shared)")

        // Apart, two steps at once cannot be in one namespace (one after another, the second's
        // may reuse the first's number).
        let apart = seen(try await TestEngine.run(job, on: engine, sandbox: false))
        #expect(apart[0].contains("eth0") && apart[1].contains("eth0"), "\(apart)")
        if streaming { #expect(apart[0].first != apart[1].first, "each step has a network of its own: \(apart)") }
    }

    @Test("two concurrent jobs with the same image and file path never see each other's data")
    func concurrentFileChannel() async throws {
        let outcomes = try await withThrowingTaskGroup(of: (String, TestEngine.Outcome).self) { group in
            for name in ["alpha", "beta"] {
                group.addTask {
                    let job = Job(steps: [
                        step(
                            "sleep 0.5; cat /shared/out.txt; echo \(name) >> /shared/out.txt",
                            output: .file("/shared/out.txt")),
                        step("cat"),
                    ])
                    return (name, try await TestEngine.run(job))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes["alpha"]?.output == Array("alpha\n".utf8))
        #expect(outcomes["beta"]?.output == Array("beta\n".utf8))
    }

    @Test("a step that exits 0 without writing its output file passes on nothing")
    func emptyFile() async throws {
        let outcome = try await TestEngine.run(Job(steps: [step("true", output: .file("/out.txt")), step("wc -c")]))
        #expect(outcome.state.status == .complete)
        #expect(String(decoding: outcome.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("a step that removes its output file ends the job in error, with a message")
    func removedFile() async throws {
        let outcome = try await TestEngine.run(Job(steps: [step("rm /out.txt", output: .file("/out.txt"))]))
        #expect(outcome.state.status == .error)
        #expect(outcome.state.error == "step 1: output file /out.txt was not found in the container")
    }

    @Test("job environment reaches every step; a step's own value wins")
    func environment() async throws {
        let job = Job(
            environment: [.init(variable: "A", value: "job-a"), .init(variable: "B", value: "job-b")],
            steps: [
                step("echo \"$A $B\"; cat >/dev/null", environment: [.init(variable: "B", value: "step-b")]),
                step("cat; echo \"$A $B\""),
            ])
        let outcome = try await TestEngine.run(job)
        #expect(String(decoding: outcome.output, as: UTF8.self) == "job-a step-b\njob-a job-b\n")
    }

    @Test("a failing first step ends the job in error; nothing else runs")
    func failingFirstStep() async throws {
        let outcome = try await TestEngine.run(
            Job(steps: [step("echo oops >&2; exit 3", name: "first"), step("echo never")]))
        #expect(outcome.state.status == .error)
        #expect(outcome.state.stepsCompleted == 0)
        #expect(outcome.state.error == #"step 1 "first" exited with code 3"#)
        #expect(outcome.state.steps.map(\.exitCode) == [3, nil])
        #expect(outcome.log == ["oops"])
    }

    @Test("a failing middle step ends the job in error after the steps before it")
    func failingMiddleStep() async throws {
        let outcome = try await TestEngine.run(
            Job(steps: [step("echo one"), step("cat; exit 4", name: "upper"), step("echo never")]))
        #expect(outcome.state.status == .error)
        #expect(outcome.state.stepsCompleted == 1)
        #expect(outcome.state.error == #"step 2 "upper" exited with code 4"#)
        #expect(outcome.state.steps.map(\.exitCode) == [0, 4, nil])
        #expect(outcome.log == ["one", "one"])
    }

    @Test("a missing image ends the job in error with the engine's message")
    func missingImage() async throws {
        let outcome = try await TestEngine.run(Job(steps: [Step(source: "dray-test/does-not-exist")]))
        #expect(outcome.state.status == .error)
        let message = try #require(outcome.state.error)
        #expect(message.hasPrefix("step 1: image dray-test/does-not-exist:latest not found: "))
    }

    @Test("a missing image is pulled from its registry")
    func pull() async throws {
        let image = "\(try TestEngine.registry())/dray-test/pulled:latest"
        try await TestEngine.withClient { try? await $0.removeImage(image) }
        let outcome = try await TestEngine.run(Job(steps: [Step(source: image)]))
        #expect(outcome.state.status == .complete)
        #expect(outcome.output == Array("v2\n".utf8))
    }

    @Test("refresh pulls the image even when it is present; without it the local one runs")
    func refresh() async throws {
        let image = "\(try TestEngine.registry())/dray-test/refresh"
        // The engine's copy is v1; the registry's is v2.
        try await TestEngine.withClient {
            try await $0.tagImage("dray-test/version:v1", repository: image, tag: "latest")
        }
        let local = try await TestEngine.run(Job(steps: [Step(source: image)]))
        #expect(local.output == Array("v1\n".utf8))
        let refreshed = try await TestEngine.run(Job(steps: [Step(source: image, refresh: true)]))
        #expect(refreshed.output == Array("v2\n".utf8))
    }

    @Test(
        "a step that ignores its stdin, or stops reading early, neither hangs nor fails the job; stdin ends",
        arguments: TestEngine.Kind.allCases)
    func ignoredStdin(engine: TestEngine.Kind) async throws {
        let ignored = try await TestEngine.run(
            Job(steps: [step("head -c 20000000 /dev/zero"), step("echo ignored")]), on: engine)
        #expect(ignored.state.status == .complete)
        #expect(ignored.output == Array("ignored\n".utf8))
        // `wc -c` ends only when its stdin does.
        let early = try await TestEngine.run(
            Job(steps: [step("head -c 20000000 /dev/zero"), step("head -c 5"), step("wc -c")]), on: engine)
        #expect(early.state.status == .complete)
        #expect(String(decoding: early.output, as: UTF8.self).trimmingCharacters(in: .whitespaces) == "5\n")
        // Podman then resets the connection, with its own error as the last stderr frame, at
        // times before all the output came: the output is whole and the error is not the step's.
        let stderr = try await TestEngine.run(
            Job(steps: [
                step("head -c 20000000 /dev/zero"),
                step("head -c 5 >/dev/null; echo 1 >&2; echo 2 >&2", output: .stderr),
                step("cat"),
            ]), on: engine)
        #expect(stderr.state.status == .complete)
        #expect(stderr.output == Array("1\n2\n".utf8))
        #expect(!stderr.log.contains { $0.contains("connection reset") }, "\(stderr.log.suffix(3))")
    }

    @Test("delimiters pass on only the lines between them; the log keeps all")
    func delimiters() async throws {
        var first = step("echo noise; echo BEGIN; echo 'the data'; echo END; echo more noise")
        first.beginDelimiter = "BEGIN"
        first.endDelimiter = "END"
        let outcome = try await TestEngine.run(Job(steps: [first, step("cat")]))
        #expect(outcome.output == Array("the data\n".utf8))
        #expect(outcome.lines.filter { $0.step == 0 }.count == 5)
    }

    @Test("log lines keep their step and stream, in arrival order")
    func logOrder() async throws {
        let outcome = try await TestEngine.run(
            Job(steps: [step("echo a; sleep 0.2; echo b >&2; sleep 0.2; echo c"), step("cat >/dev/null; echo d")]))
        #expect(outcome.log == ["a", "b", "c", "d"])
        #expect(outcome.lines.map(\.stream) == [.stdout, .stderr, .stdout, .stdout])
        #expect(outcome.lines.map(\.step) == [0, 0, 0, 1])
    }

    @Test("a step's exit code, timestamps and the job's times are recorded")
    func timestamps() async throws {
        let outcome = try await TestEngine.run(Job(steps: [step("echo x"), step("cat")]))
        let state = outcome.state
        #expect(state.steps.allSatisfy { $0.exitCode == 0 && $0.startedAt != nil && $0.finishedAt != nil })
        // Unwrapped with #require: a failed job must fail the test, not crash the whole run.
        #expect(try #require(state.startedAt) <= (try #require(state.steps[0].startedAt)))
        #expect(try #require(state.steps[1].finishedAt) <= (try #require(state.finishedAt)))
    }
}
