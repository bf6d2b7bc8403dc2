import DockerClient
import DrayServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFileSystem
import Testing

/// Job control on the real engine: cancel, timeouts, retries, resume, output, the queue,
/// live logs and clean-up. Part of the REST API suite, on the SQLite store.
extension ServerTests {
    /// A job of `dray-test/sh` steps, one per script; `extra` is JSON added to every step.
    func shJob(_ scripts: [String], step extra: String = "", job jobExtra: String = "") -> String {
        let steps = scripts.enumerated().map { index, script in
            let quoted = String(data: try! JSONEncoder().encode(script), encoding: .utf8)!
            return
                #"{"name":"s\#(index + 1)","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":\#(quoted)}]\#(extra)}"#
        }
        return #"{"steps":[\#(steps.joined(separator: ","))]\#(jobExtra)}"#
    }

    func submit(_ client: any TestClientProtocol, _ body: String) async throws -> String {
        let response = try await call(client, .post, "/jobs", route: "/jobs", body: body)
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return try #require(try json(response)["id"] as? String)
    }

    func waitForLog(_ client: any TestClientProtocol, _ id: String, _ line: String) async throws {
        for _ in 0..<1200 {
            let lines = try json(try await call(client, .get, "/jobs/\(id)/log", route: "/jobs/{id}/log"))["lines"]
            if (lines as? [String])?.contains(line) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) never logged \(line)")
    }

    @Test(
        "cancel: SIGTERM reaches the step, the container is removed, the job is canceled; again is a 409",
        arguments: TestEngine.Kind.allCases)
    func cancel(engine: TestEngine.Kind) async throws {
        try await withServer(.sqlite, engine: engine) { client, _ in
            let id = try await submit(
                client,
                shJob([#"trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"#]))
            try await waitForLog(client, id, "started")
            let started = ContinuousClock.now
            let response = try await call(client, .post, "/jobs/\(id)/cancel", route: "/jobs/{id}/cancel")
            let latency = ContinuousClock.now - started
            print("cancel latency, step that exits on SIGTERM: \(latency)")
            #expect(response.status == .ok)
            let state = try json(response)
            #expect(state["status"] as? String == "error")
            #expect(state["phase"] as? String == "canceled")
            #expect(state["reason"] as? String == "canceled")
            #expect(state["error"] as? String == #"step 1 "s1" was canceled"#)
            let left = try await TestEngine.withClient(engine) { try await $0.listContainers(label: "dray.job=\(id)") }
            #expect(left.isEmpty, "the container was removed")

            let again = try await call(client, .post, "/jobs/\(id)/cancel", route: "/jobs/{id}/cancel")
            #expect(again.status == .conflict)
            #expect((try json(again)["error"] as? String)?.contains("nothing to cancel") == true)
            let unknown = try await call(client, .post, "/jobs/NOPE/cancel", route: "/jobs/{id}/cancel")
            #expect(unknown.status == .notFound)
        }
    }

    @Test("cancel: a step that ignores SIGTERM is killed after its stopGracePeriod")
    func cancelKillsAfterGrace() async throws {
        try await withServer(.sqlite) { client, _ in
            // A shell as PID 1 ignores SIGTERM: only SIGKILL stops it.
            let id = try await submit(client, shJob(["echo started; sleep 120"], step: #","stopGracePeriod":1"#))
            try await waitForLog(client, id, "started")
            let started = ContinuousClock.now
            let response = try await call(client, .post, "/jobs/\(id)/cancel", route: "/jobs/{id}/cancel")
            let latency = ContinuousClock.now - started
            print("cancel latency, step that ignores SIGTERM, stopGracePeriod 1 s: \(latency)")
            #expect(try json(response)["phase"] as? String == "canceled")
            #expect(latency >= .seconds(1), "SIGKILL waited for the grace period")
        }
    }

    @Test("a step's timeout and the job's timeout stop the step and say so")
    func timeouts() async throws {
        try await withServer(.sqlite) { client, _ in
            let step = try await submit(
                client,
                #"""
                {"steps":[{"name":"s1","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo quick"}]},
                {"name":"s2","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"sleep 30"}],"timeout":2,"stopGracePeriod":0}]}
                """#)
            let job = try await submit(
                client, shJob(["sleep 30"], step: #","stopGracePeriod":0"#, job: #","timeout":2.5"#))
            let stepState = try await waitUntilDone(client, step)
            #expect(stepState["status"] as? String == "error")
            #expect(stepState["reason"] as? String == "timeout")
            #expect(stepState["error"] as? String == #"step 2 "s2" timed out after 2 s"#)
            #expect(stepState["stepsCompleted"] as? Int == 1)
            let jobState = try await waitUntilDone(client, job)
            #expect(jobState["reason"] as? String == "timeout")
            #expect(jobState["error"] as? String == #"the job timed out after 2.5 s in step 1 "s1""#)
            try await TestEngine.withClient { docker async throws in
                #expect(try await docker.listContainers(label: "dray.job=\(step)").isEmpty)
                #expect(try await docker.listContainers(label: "dray.job=\(job)").isEmpty)
            }
            for body in [
                #"{"steps":[{"source":"a","timeout":-1}]}"#, #"{"steps":[{"source":"a"}],"timeout":0}"#,
                #"{"steps":[{"source":"a","retries":-2}]}"#, #"{"steps":[{"source":"a","stopGracePeriod":-1}]}"#,
            ] {
                let response = try await call(client, .post, "/jobs", route: "/jobs", body: body)
                #expect(response.status == .badRequest, "\(body)")
            }
            let negative = try await call(
                client, .post, "/jobs", route: "/jobs", body: #"{"steps":[{"source":"a","timeout":-1}]}"#)
            #expect(
                try json(negative)["error"] as? String
                    == "steps[0].timeout must be a number of seconds above 0 to 31536000")
        }
    }

    @Test("retries: each attempt runs with the same input, its lines stay in the log, its exit code is kept")
    func retries() async throws {
        try await withServer(.sqlite) { client, _ in
            let id = try await submit(
                client,
                shJob(
                    ["echo payload", "read line; echo attempt with $line; exit 3"],
                    step: #","retries":2,"retryDelay":0.2"#))
            let state = try await waitUntilDone(client, id)
            #expect(state["status"] as? String == "error")
            #expect(state["error"] as? String == #"step 2 "s2" exited with code 3 (attempt 3 of 3)"#)
            let steps = try #require(state["steps"] as? [[String: Any]])
            #expect(steps[0]["attempts"] as? [Int] == [0])
            #expect(steps[1]["attempts"] as? [Int] == [3, 3, 3])
            let lines = try json(try await call(client, .get, "/jobs/\(id)/log", route: "/jobs/{id}/log"))["lines"]
            #expect(lines as? [String] == ["payload"] + Array(repeating: "attempt with payload", count: 3))
        }
    }

    @Test(
        "resume runs from the failed step on the spooled output, with the image looked up afresh; /output is byte-exact"
    )
    func resume() async throws {
        try await withServer(.sqlite) { client, _ in
            try await TestEngine.withClient { docker async throws in
                let image = "dray-test/fixme-\(UUID().uuidString.prefix(8).lowercased())"
                try await docker.tagImage("dray-test/sh", repository: image, tag: "latest")
                let body = #"""
                    {"steps":[
                      {"name":"make","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo made >&2; printf 'hello\\000\\377world\\n'"}]},
                      {"name":"fix","source":"\#(image)","environment":[{"variable":"SCRIPT","value":"exit 3"}]},
                      {"name":"copy","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"cat"}]}
                    ]}
                    """#
                let id = try await submit(client, body)
                let failed = try await waitUntilDone(client, id)
                #expect(failed["error"] as? String == #"step 2 "fix" exited with code 3"#)
                let early = try await call(client, .get, "/jobs/\(id)/output", route: "/jobs/{id}/output")
                #expect(early.status == .conflict)

                // The image is fixed under the same name: now it upper-cases its input.
                try await docker.tagImage("dray/upper", repository: image, tag: "latest")
                let resumed = try await call(client, .post, "/jobs/\(id)/resume", route: "/jobs/{id}/resume")
                #expect(resumed.status == .accepted)
                #expect(try json(resumed)["status"] as? String == "running")
                let done = try await waitUntilDone(client, id)
                #expect(done["status"] as? String == "complete", "\(done)")
                #expect(done["stepsCompleted"] as? Int == 3)
                let lines = try json(try await call(client, .get, "/jobs/\(id)/log", route: "/jobs/{id}/log"))["lines"]
                #expect((lines as? [String])?.filter { $0 == "made" }.count == 1, "step 1 did not run again")

                let output = try await client.execute(uri: "/jobs/\(id)/output", method: .get)
                #expect(output.status == .ok)
                #expect(output.headers[.contentType] == "application/octet-stream")
                #expect(Array(output.body.readableBytesView) == Array("HELLO".utf8) + [0, 255] + Array("WORLD\n".utf8))
                let again = try await call(client, .post, "/jobs/\(id)/resume", route: "/jobs/{id}/resume")
                #expect(again.status == .conflict)
                _ = try? await docker.removeImage(image)
            }
        }
    }

    @Test("--keep-outputs frees a finished job's spools; resume then answers 409, and the outputs 410")
    func keepOutputs() async throws {
        var jobs = JobService.Configuration()
        jobs.keepOutputs = .milliseconds(300)
        try await withServer(.sqlite, jobs: jobs) { client, service in
            let failing = try await submit(client, shJob(["echo one", "exit 4"]))
            let complete = try await submit(client, shJob(["echo one"]))
            _ = try await waitUntilDone(client, failing)
            _ = try await waitUntilDone(client, complete)
            for _ in 0..<50 {
                let left = [
                    try await FileSystem.shared.info(forFileAt: service.spoolDirectory(of: complete)),
                    try await FileSystem.shared.info(forFileAt: service.spoolDirectory(of: failing)),
                ]
                if left.allSatisfy({ $0 == nil }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let resume = try await call(client, .post, "/jobs/\(failing)/resume", route: "/jobs/{id}/resume")
            #expect(resume.status == .conflict)
            #expect((try json(resume)["error"] as? String)?.contains("freed") == true)
            let output = try await call(client, .get, "/jobs/\(complete)/output", route: "/jobs/{id}/output")
            #expect(output.status == .gone)
            #expect((try json(output)["error"] as? String)?.contains("expired") == true)
            let step = try await call(
                client, .get, "/jobs/\(complete)/steps/1/output", route: "/jobs/{id}/steps/{step}/output")
            #expect(step.status == .gone)
        }
    }

    @Test("the queue: at most N jobs run at once, N+10 wait as queued, and they start in submission order")
    func queue() async throws {
        var jobs = JobService.Configuration()
        jobs.maxConcurrentJobs = 2
        try await withServer(.sqlite, jobs: jobs) { client, service in
            let started = ContinuousClock.now
            var ids: [String] = []
            for _ in 0..<12 { ids.append(try await submit(client, shJob(["sleep 2"]))) }
            let load = try await service.load()
            #expect(load.running == 2 && load.queued == 10)
            let waiting = try json(try await call(client, .get, "/jobs/\(ids[11])", route: "/jobs/{id}"))
            #expect(waiting["status"] as? String == "running")
            #expect(waiting["phase"] as? String == "queued")
            var most = 0
            while try await service.load().running + service.load().queued > 0 {
                most = max(most, try await service.load().running)
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = ContinuousClock.now - started
            print("queue: 12 jobs of 2 s with --max-concurrent-jobs 2 took \(elapsed); at most \(most) ran at once")
            #expect(most <= 2)
            var starts: [Date] = []
            for id in ids {
                let state = try await waitUntilDone(client, id)
                #expect(state["status"] as? String == "complete")
                let text = try #require(state["startedAt"] as? String)
                starts.append(try Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            }
            #expect(starts == starts.sorted(), "jobs started in the order they were submitted")
        }
    }

    @Test("?follow=true streams every line as an event from index, then an end event with the status")
    func follow() async throws {
        try await withServer(.sqlite) { client, _ in
            let id = try await submit(client, shJob(["for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"]))
            let response = try await client.execute(uri: "/jobs/\(id)/log?follow=true&index=1", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            // A slow machine may make the server send keep-alive comments between the lines.
            let text = String(buffer: response.body).replacingOccurrences(of: ": keep-alive\n\n", with: "")
            let expected =
                (1..<5).map { "id: \($0)\ndata: line \($0 + 1)\n\n" }.joined()
                + "event: end\ndata: {\"status\":\"complete\",\"stepsCompleted\":1}\n\n"
            #expect(text == expected)
            let bad = try await client.execute(uri: "/jobs/\(id)/log?follow=maybe", method: .get)
            #expect(bad.status == .badRequest)
        }
    }

    @Test("--job-ttl deletes a finished job with its log and spools")
    func jobTTL() async throws {
        var jobs = JobService.Configuration()
        jobs.jobTTL = .milliseconds(300)
        try await withServer(.sqlite, jobs: jobs) { client, service in
            let id = try await submit(client, shJob(["echo bye"]))
            _ = try await waitUntilDone(client, id)
            var status: HTTPResponse.Status = .ok
            for _ in 0..<50 where status == .ok {
                try await Task.sleep(for: .milliseconds(100))
                status = try await call(client, .get, "/jobs/\(id)", route: "/jobs/{id}").status
            }
            #expect(status == .notFound)
            // The record goes first, then the spools.
            var spool = try await FileSystem.shared.info(forFileAt: service.spoolDirectory(of: id))
            for _ in 0..<50 where spool != nil {
                try await Task.sleep(for: .milliseconds(100))
                spool = try await FileSystem.shared.info(forFileAt: service.spoolDirectory(of: id))
            }
            #expect(spool == nil)
        }
    }
}
