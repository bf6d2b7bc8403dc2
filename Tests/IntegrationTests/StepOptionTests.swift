import DrayEngine
import Foundation
import Testing

/// `docker run`'s options on a step, on the real engine, and the server's ceilings.
@Suite("A step's docker run options")
struct StepOptionTests {
    /// Prints what a step sees: its folder, user id, network interfaces, and its cgroup's
    /// memory, process and CPU limits (cgroup v1 or v2).
    static let probe =
        "pwd; id -u; ls /sys/class/net; "
        + "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        + "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
        + "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"

    @Test("command, entrypoint, workingDir, user, network, memory, cpus and pidsLimit reach the container")
    func options() async throws {
        var step = Step(source: "dray/busybox")
        step.entrypoint = ["/bin/sh", "-c"]
        step.command = [Self.probe]
        step.workingDir = "/tmp"
        step.user = "1000:1000"
        step.network = "none"
        step.memory = MemorySize("64m")
        step.cpus = 1.5
        step.pidsLimit = 64
        let outcome = try await TestEngine.run(Job(steps: [step]))
        #expect(outcome.state.status == .complete, "\(outcome.state.error ?? "")")
        #expect(String(decoding: outcome.output, as: UTF8.self) == "/tmp\n1000\nlo\n67108864\n64\n150000\n")
    }

    @Test("the server's --step-memory and --step-pids are the default and the ceiling; host and privileged stay out")
    func ceilings() async throws {
        let server = try await ServerProcess.started(
            "ceilings", arguments: ["--step-memory", "64m", "--step-pids", "32"])
        defer { server.stop() }
        func job(_ extra: [String: Any]) -> String {
            let step: [String: Any] = [
                "source": "dray/busybox", "entrypoint": ["/bin/sh", "-c"], "command": [Self.probe],
            ]
            .merging(extra) { $1 }
            let data = try! JSONSerialization.data(withJSONObject: ["steps": [step]], options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
        let created = try await server.request(.POST, "/jobs", body: job([:]))
        let id = try #require(created.json["id"] as? String)
        _ = try await server.request(.GET, "/jobs/\(id)/log?follow=true", timeout: .seconds(120))
        let lines = try #require(try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String])
        // Memory and processes from the server; no CPU quota (-1 in cgroup v1, max in v2).
        #expect(Array(lines.suffix(3).prefix(2)) == ["67108864", "32"], "\(lines)")
        #expect(["-1", "max"].contains(lines.last ?? ""), "\(lines)")

        let greedy = try await server.request(.POST, "/jobs", body: job(["memory": "1g", "pidsLimit": 100]))
        #expect(greedy.status == 400)
        #expect(
            greedy.json["error"] as? String
                == "steps[0].memory asks for 1073741824 bytes; this server allows at most 67108864; steps[0].pidsLimit asks for 100; this server allows at most 32"
        )
        let host = try await server.request(.POST, "/jobs", body: job(["network": "host"]))
        #expect(host.status == 400)
        #expect((host.json["error"] as? String)?.hasPrefix(#"steps[0].network cannot be "host""#) == true)
        // No field of a job asks for privileges, host mounts or capabilities: such a field is
        // not Dray's, so it is dropped with a warning, or refused with strict=true.
        let privileged = try await server.request(
            .POST, "/jobs", body: job(["privileged": true, "binds": ["/:/host"], "capAdd": ["ALL"]]))
        #expect(privileged.status == 201)
        #expect((privileged.json["warnings"] as? [String])?.count == 3)
        let strict = try await server.request(.POST, "/jobs?strict=true", body: job(["privileged": true]))
        #expect(strict.status == 400)
    }

    @Test("a server refuses a registry on loopback at submission, unless --allow-registry names it")
    func registries() async throws {
        let open = try await ServerProcess.started("registries")
        defer { open.stop() }
        let probe = #"{"steps":[{"source":"127.0.0.1:\#(open.port)/x"}]}"#
        let refused = try await open.request(.POST, "/jobs", body: probe)
        #expect(refused.status == 400)
        #expect((refused.json["error"] as? String)?.contains("a loopback, link-local or private address") == true)

        let listed = try await ServerProcess.started(
            "registries-listed", arguments: ["--allow-registry", "127.0.0.1:\(open.port)"])
        defer { listed.stop() }
        #expect(try await listed.request(.POST, "/jobs", body: probe).status == 201)
        let hub = try await listed.request(.POST, "/jobs", body: #"{"steps":[{"source":"dray/upper"}]}"#)
        #expect(hub.status == 400)
        #expect((hub.json["error"] as? String)?.hasSuffix("it allows 127.0.0.1:\(open.port)") == true)

        let bad = try await DrayProcess.run(["serve", "--allow-registry", "not a host"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--allow-registry takes host[:port]"), "\(bad.stderr)")
    }
}
