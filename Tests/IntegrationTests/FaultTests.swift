import DockerClient
import DrayStoreTesting
import Foundation
import Synchronization
import Testing

/// Faults at random moments against three nodes on PostgreSQL, with an engine, a PostgreSQL and
/// a spool disk of the suite's own: nodes killed with SIGKILL and started again, PostgreSQL and
/// the Docker engine restarted, the spool's file system filled. What a user would check
/// afterwards: every job ended, none stuck, no step ran twice at once, no container left
/// behind, and every job that failed says why. scripts/test runs it on its own, after the rest.
@Suite("Faults lose nothing", .serialized)
struct FaultTests {
    /// The figures the suite reports.
    struct Figures: CustomStringConvertible {
        var submitted = 0
        var lost = 0
        var stuck = 0
        var twiceAtOnce = 0
        var containersLeft = 0
        /// Containers whose removal Dray asked for and the engine could not finish (state
        /// `removing` or `dead`): a container started as its engine shut down keeps a shim that
        /// outlives the engine and holds its file system mounted ("device or resource busy").
        var heldByEngine = 0
        var unexplained = 0
        var statuses: [String: Int] = [:]
        var reasons: [String: Int] = [:]
        var faults: [String: Int] = [:]
        /// The errors' messages, with ids and numbers taken out, and how many jobs ended with each.
        var messages: [String: Int] = [:]

        var description: String {
            func list(_ counts: [String: Int]) -> String {
                counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            }
            return """
                fault suite: \(submitted) jobs submitted; lost \(lost), stuck running \(stuck), a step twice at once \(twiceAtOnce), containers left \(containersLeft) (and \(heldByEngine) the engine failed to remove), errors that do not say why \(unexplained)
                fault suite: statuses: \(list(statuses)); reasons: \(list(reasons))
                fault suite: faults: \(list(faults))
                fault suite: why jobs failed: \(messages.sorted { $0.value > $1.value }.prefix(12).map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
                """
        }
    }

    /// A job of one of the kinds a team runs, as JSON, with what it does.
    static func job(_ kind: Int, index: Int) -> String {
        func step(_ script: String, _ extra: [String: Any] = [:]) -> [String: Any] {
            [
                "source": "dray-test/sh", "stopGracePeriod": 1,
                "environment": [["variable": "SCRIPT", "value": script]],
            ].merging(extra) { $1 }
        }
        let steps: [[String: Any]]
        switch kind {
        case 0: steps = [step("echo trivial \(index)")]
        case 1:
            // Data through steps: 256 KiB of text lines, then their checksum.
            steps = [step("seq 1 40000 | head -c 262144"), step("md5sum")]
        case 2: steps = [step("echo sleeping; sleep \(1 + index % 3)")]
        case 3: steps = [step("echo failing >&2; exit 3")]
        default: steps = [step("echo to cancel; sleep 60")]
        }
        let data = try! JSONSerialization.data(withJSONObject: ["name": "fault-\(index)", "steps": steps])
        return String(decoding: data, as: UTF8.self)
    }

    @Test(
        "300 jobs through node kills, PostgreSQL and engine restarts and a full spool: none lost, stuck, doubled or left behind"
    )
    func faults() async throws {
        var random = SeededGenerator(
            seed: UInt64(ProcessInfo.processInfo.environment["DRAY_FAULT_SEED"] ?? "") ?? .random(in: 1...99999))
        print("fault suite: seed \(random.seed) (DRAY_FAULT_SEED repeats it)")
        let engine = try await PrivateEngine()
        let postgres = try await PostgresServer()
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dray-fault-spool-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        try await Shell.check(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", spool])
        let cluster = FaultCluster()
        do {
            try await exercise(engine: engine, postgres: postgres, spool: spool, cluster: cluster, random: &random)
        } catch {
            await cluster.stop()
            _ = try? await Shell.run(["umount", "-l", spool])
            try? await postgres.stop()
            await engine.remove()
            throw error
        }
        await cluster.stop()
        _ = try? await Shell.run(["umount", "-l", spool])
        try await postgres.stop()
        await engine.remove()
    }

    private func exercise(
        engine: PrivateEngine, postgres: PostgresServer, spool: String, cluster: FaultCluster,
        random: inout SeededGenerator
    ) async throws {
        let watcher = ContainerWatcher(host: engine.host)
        let folders = (1...3).map { _ in
            FileManager.default.temporaryDirectory.appendingPathComponent("dray-fault-\(UUID().uuidString)").path
        }
        func start(_ index: Int) throws -> ServerProcess {
            try ServerProcess(
                dataDirectory: folders[index], environment: ["DOCKER_HOST": engine.host],
                arguments: [
                    "--store", postgres.url, "--node-id", "f\(index + 1)", "--lease", "3s", "--max-concurrent-jobs",
                    "4",
                    "--spool-dir", spool,
                ])
        }
        for index in 0..<3 { cluster.nodes.append(try start(index)) }
        for node in cluster.nodes { try await node!.waitUntilUp() }
        let watching = Task { await watcher.watch() }

        var figures = Figures()
        var ids: [(id: String, kind: Int)] = []
        let kinds = (0..<300).map { _ in Int.random(in: 0...4, using: &random) }
        var faultAt = ContinuousClock.now + .seconds(2)
        var downNode: (index: Int, back: ContinuousClock.Instant)?
        var filler: (path: String, until: ContinuousClock.Instant)?
        for (index, kind) in kinds.enumerated() {
            // A fault every two seconds or so, while the jobs come in.
            if ContinuousClock.now >= faultAt {
                faultAt = .now + .milliseconds(Int.random(in: 1000...3000, using: &random))
                switch Int.random(in: 0...3, using: &random) {
                case 0 where downNode == nil:
                    let victim = Int.random(in: 0..<3, using: &random)
                    cluster.nodes[victim]?.kill9()
                    cluster.nodes[victim] = nil
                    downNode = (victim, .now + .milliseconds(Int.random(in: 500...4000, using: &random)))
                    figures.faults["node killed", default: 0] += 1
                case 1:
                    try await postgres.stop()
                    try await Task.sleep(for: .milliseconds(Int.random(in: 200...1500, using: &random)))
                    try await postgres.start()
                    figures.faults["PostgreSQL restarted", default: 0] += 1
                case 2:
                    try await engine.stop()
                    try await Task.sleep(for: .milliseconds(Int.random(in: 200...1000, using: &random)))
                    try await engine.start()
                    figures.faults["engine restarted", default: 0] += 1
                case 3 where filler == nil:
                    let path = spool + "/filler-\(UUID().uuidString)"
                    _ = try? await Shell.run(["dd", "if=/dev/zero", "of=\(path)", "bs=1M", "count=64"])
                    filler = (path, .now + .milliseconds(Int.random(in: 500...3000, using: &random)))
                    figures.faults["spool filled", default: 0] += 1
                default: break
                }
            }
            if let down = downNode, ContinuousClock.now >= down.back {
                cluster.nodes[down.index] = try start(down.index)
                downNode = nil
            }
            if let fill = filler, ContinuousClock.now >= fill.until {
                try? FileManager.default.removeItem(atPath: fill.path)
                filler = nil
            }
            // Submitted to any node that answers; a submission refused by a fault is sent again.
            for attempt in 0..<100 {
                let live = cluster.nodes.compactMap { $0 }
                let node = live[(index + attempt) % live.count]
                if let answer = try? await node.request(.POST, "/jobs", body: Self.job(kind, index: index)),
                    answer.status == 201, let id = answer.json["id"] as? String
                {
                    ids.append((id, kind))
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            if kind == 4, let (id, _) = ids.last, let node = cluster.nodes.compactMap({ $0 }).first {
                // Canceled a moment later, by whichever node answers.
                Task { [id] in
                    try? await Task.sleep(for: .milliseconds(700))
                    _ = try? await node.request(.POST, "/jobs/\(id)/cancel", timeout: .seconds(30))
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...120, using: &random)))
        }
        // The faults stop: every node up, the spool emptied.
        if let fill = filler { try? FileManager.default.removeItem(atPath: fill.path) }
        if let down = downNode { cluster.nodes[down.index] = try start(down.index) }
        for node in cluster.nodes { try await node!.waitUntilUp() }
        figures.submitted = ids.count
        #expect(ids.count == 300, "every job was taken")

        // Every job ends: the canceled ones at once, the sleeping ones within seconds.
        let reader = cluster.nodes[0]!
        var states: [String: [String: Any]] = [:]
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            for (id, _) in ids where states[id] == nil {
                guard let state = try? await reader.request(.GET, "/jobs/\(id)").json,
                    let status = state["status"] as? String
                else { continue }
                if status != "running" && status != "queued" { states[id] = state }
            }
            if states.count == ids.count { break }
            try await Task.sleep(for: .seconds(1))
        }
        for (id, _) in ids {
            guard let state = states[id] else {
                let now = try? await reader.request(.GET, "/jobs/\(id)")
                if now?.status == 404 { figures.lost += 1 } else { figures.stuck += 1 }
                print(
                    "fault suite: job \(id) did not end: \(now.map { String(decoding: $0.body, as: UTF8.self) } ?? "")")
                continue
            }
            let status = state["status"] as? String ?? "?"
            figures.statuses[status, default: 0] += 1
            if status == "error" {
                let reason = state["reason"] as? String ?? "none"
                figures.reasons[reason, default: 0] += 1
                let message = state["error"] as? String ?? ""
                if message.isEmpty || reason == "none" { figures.unexplained += 1 }
                let general = message.replacingOccurrences(
                    of: "[0-9A-Fa-f-]{8,}|[0-9]+(\\.[0-9]+)?", with: "N", options: .regularExpression)
                figures.messages[String(general.prefix(140)), default: 0] += 1
            }
        }
        // Containers of ended jobs are gone once their nodes are back.
        try await Task.sleep(for: .seconds(2))
        watching.cancel()
        let doubled = await watcher.twiceAtOnce
        figures.twiceAtOnce = doubled.count
        var left: [ContainerSummary] = []
        try await TestEngine.withClient(host: engine.host) { docker in
            for _ in 0..<100 {
                left = try await docker.listContainers(label: "dray.job")
                if left.isEmpty { break }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let held = left.filter { ["removing", "dead"].contains($0.state ?? "") }
        figures.heldByEngine = held.count
        figures.containersLeft = left.count - held.count
        // What the store says of the jobs whose containers are left, for the failure's message.
        for container in left {
            guard let id = container.labels?["dray.job"] else { continue }
            let state = try? await reader.request(.GET, "/jobs/\(id)", timeout: .seconds(5)).json
            print(
                "fault suite: left \(container.id) \(container.state ?? "?") \(container.labels ?? [:]): job \(state?["status"] ?? "?") \(state?["reason"] ?? "") \(state?["error"] ?? "")"
            )
            // What the nodes said of the job, of the container, and of their leftover passes.
            for line in Self.nodeLogLines(
                folders: folders, mentioning: [id, String(container.id.prefix(12)), "leftover"])
            {
                print("fault suite:   \(line)")
            }
        }
        print(figures)
        #expect(figures.lost == 0)
        #expect(figures.stuck == 0)
        #expect(figures.twiceAtOnce == 0, "\(doubled)")
        #expect(
            figures.containersLeft == 0,
            "\(left.filter { !["removing", "dead"].contains($0.state ?? "") }.map { $0.labels ?? [:] })")
        #expect(figures.unexplained == 0)
    }
}

extension FaultTests {
    /// The lines of every log the nodes wrote (each start of a node writes a new one) that
    /// mention one of `words`, at most 200.
    static func nodeLogLines(folders: [String], mentioning words: [String]) -> [String] {
        var lines: [String] = []
        for folder in folders {
            let parent = (folder as NSString).deletingLastPathComponent
            let name = (folder as NSString).lastPathComponent
            let logs = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            for log in logs.sorted() where log.hasPrefix(name + "-server-") {
                let text = (try? String(contentsOfFile: parent + "/" + log, encoding: .utf8)) ?? ""
                for line in text.split(separator: "\n") where words.contains(where: { line.contains($0) }) {
                    lines.append("\(name.suffix(4)) \(line.prefix(400))")
                }
            }
        }
        return Array(lines.suffix(200))
    }
}

/// The suite's nodes, by index; nil while one is down.
final class FaultCluster: @unchecked Sendable {
    var nodes: [ServerProcess?] = []

    /// Ends the nodes with SIGKILL: the suite measures what faults lose, and graceful shutdown
    /// has tests of its own. (Once, after a dozen PostgreSQL restarts, a node here did not stop
    /// within 60 s of SIGTERM; that is being looked into, not hidden: see the closing note.)
    func stop() async {
        for node in nodes { node?.kill9() }
    }
}

/// Looks at the engine's running containers a few times a second, and keeps each (job, step)
/// seen running in two containers at once.
actor ContainerWatcher {
    let host: String
    private(set) var twiceAtOnce: Set<String> = []

    init(host: String) {
        self.host = host
    }

    func watch() async {
        while !Task.isCancelled {
            let listed = try? await TestEngine.withClient(host: host) { docker in
                try await docker.listContainers(label: "dray.job")
            }
            var seen: Set<String> = []
            for container in listed ?? [] where container.state == "running" {
                let key = "\(container.labels?["dray.job"] ?? "?") step \(container.labels?["dray.step"] ?? "?")"
                if !seen.insert(key).inserted { twiceAtOnce.insert(key) }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }
}

/// A random number generator that a seed repeats (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    let seed: UInt64
    private var state: UInt64

    init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
