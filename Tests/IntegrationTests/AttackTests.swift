import Foundation
import Testing

/// What an attacker tried against a real `dray serve`, and what each attempt now gets: step
/// options that outran the server's ceilings, a grace period that outlived a cancel, secrets
/// that slipped past the mask, a store every local user could read.
@Suite("Holes an attacker found")
struct AttackTests {
    @Test("a stopGracePeriod above --max-stop-grace and a cpus below the engine's least are 400s naming the field")
    func ceilings() async throws {
        let server = try await ServerProcess.started("ceilings", arguments: ["--step-cpus", "0.5"])
        defer { server.stop() }
        let grace = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob("true", stopGracePeriod: 3600))
        #expect(grace.status == 400)
        #expect(
            (grace.json["error"] as? String)?.contains(
                "steps[0].stopGracePeriod asks for 3600.0 s; this server allows at most 30.0 s") == true,
            "\(grace.json)")
        let cpus = try await server.request(
            .POST, "/jobs", body: #"{"steps":[{"source":"dray-test/sh","cpus":1e-12}]}"#)
        #expect(cpus.status == 400)
        #expect((cpus.json["error"] as? String)?.contains("steps[0].cpus must be a number from 0.01") == true)
    }

    @Test("a cancel ends a step that ignores SIGTERM at --max-stop-grace, and logs what it printed meanwhile")
    func graceOnCancel() async throws {
        let server = try await ServerProcess.started("grace", arguments: ["--max-stop-grace", "2s"])
        defer { server.stop() }
        // The step asks for no grace (10 s by default), above the server's 2 s: it gets 2 s.
        let script = "trap 'echo got TERM; sleep 0.3; echo still here' TERM; echo started; while :; do sleep 0.1; done"
        let step: [String: Any] = ["source": "dray-test/sh", "environment": [["variable": "SCRIPT", "value": script]]]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["steps": [step]]), as: UTF8.self)
        let created = try await server.request(.POST, "/jobs", body: body)
        let id = try #require(created.json["id"] as? String)
        try await server.waitForLog(id, ["started"])
        let started = ContinuousClock.now
        let answer = try await server.request(.POST, "/jobs/\(id)/cancel", timeout: .seconds(60))
        let took = ContinuousClock.now - started
        #expect(answer.status == 200)
        #expect(answer.json["phase"] as? String == "canceled")
        #expect(took < .seconds(9), "a cancel took \(took): the 10 s default was not cut to 2 s")
        let log = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
        #expect(log == ["started", "got TERM", "still here"], "\(log ?? [])")
    }

    @Test("a step's timeout logs what the step printed between SIGTERM and its end")
    func graceOnTimeout() async throws {
        let server = try await ServerProcess.started("timeoutgrace")
        defer { server.stop() }
        let body = #"""
            {"steps":[{"source":"dray-test/sh","timeout":5,"stopGracePeriod":5,"environment":[{"variable":"SCRIPT",
            "value":"trap 'echo cleaning up; exit 3' TERM; echo started; while :; do sleep 0.1; done"}]}]}
            """#
        let created = try await server.request(.POST, "/jobs", body: body)
        let id = try #require(created.json["id"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["reason"] as? String == "timeout")
        try await server.waitForLog(id, ["started", "cleaning up"])
    }

    @Test("a secret with CRLF inside, or followed by a combining mark, reads *** in the log")
    func secrets() async throws {
        let server = try await ServerProcess.started("masking")
        defer { server.stop() }
        let job: [String: Any] = [
            "environment": [
                ["variable": "TWO", "value": "LINE-ONE\r\nLINE-TWO", "secret": true],
                ["variable": "MARKED", "value": "hunter2-secret", "secret": true],
            ],
            "steps": [
                [
                    "source": "dray-test/sh",
                    "environment": [
                        ["variable": "SCRIPT", "value": #"printf '%s\n' "$TWO"; printf '%s\314\201!\n' "$MARKED""#]
                    ],
                ]
            ],
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: job), as: UTF8.self)
        let created = try await server.request(.POST, "/jobs", body: body)
        let id = try #require(created.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let log = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] ?? []
        #expect(log == ["***", "***\u{301}!"], "\(log)")
    }

    @Test("under umask 022, the store, the spool and their folders are its user's alone")
    func privateFiles() async throws {
        let old = umask(0o022)
        defer { umask(old) }
        let server = try await ServerProcess.started("umask")
        defer { server.stop() }
        let created = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo data"))
        let id = try #require(created.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        var checked = 0
        let files = FileManager.default.enumerator(atPath: server.dataDirectory)
        while let relative = files?.nextObject() as? String {
            let path = server.dataDirectory + "/" + relative
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0, "\(relative) is \(String(mode, radix: 8))")
            checked += 1
        }
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/dray.sqlite"))
        #expect(checked >= 3)
    }

    @Test("three unpaged reads of a 500,000-line log at once, with detail, leave the server's memory bounded")
    func unpagedLog() async throws {
        let server = try await ServerProcess.started("unpaged")
        defer { server.stop() }
        let created = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("seq 1 500000"))
        let id = try #require(created.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let before = server.peakMemory
        let url = server.url + "/jobs/\(id)/log?detail=true"
        let answers = try await withThrowingTaskGroup(of: ServerProcess.Answer.self) { group in
            for _ in 0..<3 {
                group.addTask { try await ServerProcess.request(.GET, url, timeout: .seconds(120)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let grown = server.peakMemory - before
        print("server peak memory before three unpaged reads: \(before >> 20) MiB; grown by \(grown >> 20) MiB")
        #expect(grown < 100 << 20, "the server grew by \(grown >> 20) MiB")
        for answer in answers {
            let lines = try #require(answer.json["lines"] as? [String])
            #expect(lines.count == 500_000)
            #expect(lines.first == "1" && lines.last == "500000")
            #expect((answer.json["steps"] as? [Int])?.count == 500_000)
            #expect((answer.json["streams"] as? [String])?.last == "stdout")
        }
        let page = try await server.request(.GET, "/jobs/\(id)/log?index=499998")
        #expect(page.json["lines"] as? [String] == ["499999", "500000"])
    }

    @Test("a step name with a newline cannot forge a line of the server's text log")
    func forgedServerLog() async throws {
        let server = try await ServerProcess.started("forgedlog")
        defer { server.stop() }
        let body = #"""
            {"steps":[{"name":"s\nFORGED-BY-NAME level=critical","source":"dray-test/sh",
              "environment":[{"variable":"SCRIPT","value":"exit 3"}]}]}
            """#
        let created = try await server.request(.POST, "/jobs", body: body)
        let id = try #require(created.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "error")
        for _ in 0..<100 where !server.log.contains("job ended") { try await Task.sleep(for: .milliseconds(50)) }
        let lines = server.log.split(separator: "\n")
        #expect(lines.contains { $0.contains("job ended") && $0.contains(#"\x0aFORGED-BY-NAME"#) }, "\(server.log)")
        #expect(!lines.contains { $0.hasPrefix("FORGED") }, "\(server.log)")
    }

    @Test("a full spool disk is the job's error, saying so; a full SQLite disk answers 503, and the server goes on")
    func fullDisks() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dray-full-\(UUID().uuidString)").path
        let (spool, data) = (root + "/spool", root + "/data")
        for folder in [spool, data] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try await Shell.check(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", folder])
        }
        defer {
            for folder in [spool, data] { _ = try? Shell.unmountNow(folder) }
        }
        let server = try await ServerProcess.started(
            "full", arguments: ["--spool-dir", spool, "--data-dir", data])
        defer { server.stop() }
        let big = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("head -c 20000000 /dev/zero"))
        let id = try #require(big.json["id"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["status"] as? String == "error")
        #expect(
            state["error"] as? String == "step 1: the spool's disk is full: no space was left to keep the step's output"
        )

        // The store's disk fills: a submission is a 503 with a JSON error, never a crash.
        let filler = data + "/filler"
        _ = try await Shell.run(["dd", "if=/dev/zero", "of=\(filler)", "bs=1M", "count=16"])
        var refused: ServerProcess.Answer?
        for index in 0..<50 {
            let answer = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo \(index)"))
            if answer.status != 201 {
                refused = answer
                break
            }
        }
        #expect(
            refused?.status == 503,
            "\(refused.map { String(decoding: $0.body, as: UTF8.self) } ?? "every submission was taken")")
        #expect(refused?.json["error"] is String)
        try FileManager.default.removeItem(atPath: filler)
        #expect(try await server.request(.GET, "/healthz").status == 200)
        let after = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo again"))
        #expect(after.status == 201)
    }
}
