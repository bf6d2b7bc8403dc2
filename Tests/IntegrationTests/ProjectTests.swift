import AsyncHTTPClient
import DrayStoreTesting
import Foundation
import NIOHTTP1
import Testing

/// One Dray for a whole team: projects, scoped tokens, quotas, fair turns and the audit log, on
/// real servers (with the server's own token, as a team would run one) and the real engine.
@Suite("Projects, scoped tokens, quotas and the audit log")
struct ProjectTests {
    static let serverToken = "team-\(UUID().uuidString)"

    /// A server with its own token; `arguments` added.
    static func server(_ purpose: String, arguments: [String] = []) async throws -> ServerProcess {
        try await ServerProcess.started(
            purpose, arguments: ["--token-file", try AccessTests.file(serverToken)] + arguments)
    }

    /// Calls as the holder of `token` (the server's own when nil).
    struct Client {
        let server: ServerProcess
        let token: String

        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> ServerProcess.Answer {
            try await server.request(method, path, body: body, headers: ["Authorization": "Bearer \(token)"])
        }

        /// Submits a shell job; its id. `project` only for the server's token.
        func submit(_ script: String, project: String? = nil, priority: String? = nil) async throws -> String {
            var job =
                try JSONSerialization.jsonObject(with: Data(ServerProcess.shellJob(script).utf8)) as! [String: Any]
            if let project { job["project"] = project }
            if let priority { job["priority"] = priority }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: job), as: UTF8.self)
            let answer = try await call(.POST, "/jobs", body)
            try #require(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
            return try #require(answer.json["id"] as? String)
        }

        /// A new token; its text.
        func token(project: String, scope: String, name: String) async throws -> Client {
            let made = try await call(
                .POST, "/tokens", #"{"project":"\#(project)","scope":"\#(scope)","name":"\#(name)"}"#)
            try #require(made.status == 201, "\(made.json)")
            let text = try #require(made.json["token"] as? String)
            #expect(text.hasPrefix("dray_"))
            return Client(server: server, token: text)
        }

        /// The token's id, as `GET /me` says.
        func id() async throws -> String {
            try #require((try await call(.GET, "/me").json["token"] as? [String: Any])?["id"] as? String)
        }
    }

    /// The job's state as the server's token reads it, once `condition` holds; 60 s at most.
    static func wait(
        _ admin: Client, _ id: String, sourceLocation: SourceLocation = #_sourceLocation,
        until condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        try await ClusterTests.wait(
            admin.server, id, headers: ["Authorization": "Bearer \(admin.token)"], until: condition,
            sourceLocation: sourceLocation)
    }

    @Test(
        "a read token cannot submit (403) nor see another project (404); a submit token cannot cancel another's job; a revoked token is refused at once; each action is in the audit log with its token's name"
    )
    func scopes() async throws {
        let server = try await Self.server("projects")
        defer { server.stop() }
        let admin = Client(server: server, token: Self.serverToken)
        let reader = try await admin.token(project: "alpha", scope: "read", name: "ann")
        let submitter = try await admin.token(project: "alpha", scope: "submit", name: "bob")
        let alphaAdmin = try await admin.token(project: "alpha", scope: "admin", name: "dee")
        let beta = try await admin.token(project: "beta", scope: "submit", name: "cy")

        // A read token reads its project, and nothing else.
        let refused = try await reader.call(.POST, "/jobs", ServerProcess.shellJob("echo no"))
        #expect(refused.status == 403)
        #expect((refused.json["error"] as? String)?.contains("needs submit") == true, "\(refused.json)")
        let alphaJob = try await submitter.submit("echo alpha")
        let betaJob = try await beta.submit("sleep 30")
        #expect(try await reader.call(.GET, "/jobs/\(alphaJob)").json["project"] as? String == "alpha")
        for path in ["/jobs/\(betaJob)", "/jobs/\(betaJob)/log", "/jobs/\(betaJob)/output"] {
            let hidden = try await reader.call(.GET, path)
            #expect(hidden.status == 404, "\(path)")
            #expect(hidden.json["error"] as? String == "no job \(betaJob)", "the same answer as for no job: \(path)")
        }
        let listed =
            try JSONSerialization.jsonObject(with: try await reader.call(.GET, "/jobs").body) as? [[String: Any]]
        #expect(listed?.map { $0["id"] as? String } == [alphaJob], "a list shows its project's jobs only")
        #expect(try await reader.call(.GET, "/jobs?project=beta").status == 404)
        #expect(try await reader.call(.GET, "/tokens").status == 403, "tokens are for admins")
        #expect(try await reader.call(.GET, "/audit").status == 403, "the audit log is for admins")

        // A submit token cannot touch another project's job; its own project's, it can.
        #expect(try await submitter.call(.POST, "/jobs/\(betaJob)/cancel").status == 404)
        #expect(try await submitter.call(.DELETE, "/jobs/\(betaJob)").status == 404)
        #expect(try await beta.call(.POST, "/jobs/\(betaJob)/cancel").status == 200)
        #expect(
            try await submitter.call(.POST, "/jobs", #"{"project":"beta","steps":[{"source":"dray/upper"}]}"#).status
                == 403, "a project's token submits to its project only")

        // A project's admin makes and revokes its project's tokens, and no other's.
        #expect(
            try await alphaAdmin.call(.POST, "/tokens", #"{"project":"beta","scope":"read","name":"x"}"#).status == 403)
        let tokens = try await alphaAdmin.call(.GET, "/tokens").json["tokens"] as? [[String: Any]] ?? []
        #expect(Set(tokens.compactMap { $0["name"] as? String }) == ["ann", "bob", "dee"])
        #expect(tokens.allSatisfy { $0["token"] == nil && $0["hash"] == nil }, "a list never shows a token")
        #expect(try await alphaAdmin.call(.DELETE, "/tokens/\(try await beta.id())").status == 404)
        #expect(try await alphaAdmin.call(.PUT, "/projects/alpha", #"{"maxRunningJobs":9}"#).status == 403)
        let annID = try await reader.id()
        #expect(try await alphaAdmin.call(.DELETE, "/tokens/\(annID)").status == 200)
        let revoked = try await reader.call(.GET, "/jobs/\(alphaJob)")
        #expect(revoked.status == 401, "refused at once")
        #expect((revoked.json["error"] as? String)?.contains("revoked") == true)

        // Every one of these is in the audit log, with its token's name and never a token.
        let audit = try await admin.call(.GET, "/audit?limit=100")
        #expect(!String(decoding: audit.body, as: UTF8.self).contains(reader.token))
        let entries = audit.json["entries"] as? [[String: Any]] ?? []
        func entry(_ action: String, _ outcome: String, by name: String) -> Bool {
            entries.contains {
                $0["action"] as? String == action && $0["outcome"] as? String == outcome
                    && ($0["token"] as? [String: Any])?["name"] as? String == name
                    && $0["address"] as? String == "127.0.0.1"
            }
        }
        #expect(entry("job.submit", "refused", by: "ann"))
        #expect(entry("job.read", "refused", by: "ann"))
        #expect(entry("job.submit", "ok", by: "bob"))
        #expect(entry("job.cancel", "refused", by: "bob"))
        #expect(entry("job.delete", "refused", by: "bob"))
        #expect(entry("job.cancel", "ok", by: "cy"))
        #expect(entry("token.create", "ok", by: "server"))
        #expect(entry("token.create", "refused", by: "dee"))
        #expect(entry("token.revoke", "ok", by: "dee"))
        #expect(entry("project.put", "refused", by: "dee"))
        #expect(entry("request", "refused", by: "ann"), "the revoked token's try")
        // A project's admin sees its project's entries only.
        let own = try await alphaAdmin.call(.GET, "/audit").json["entries"] as? [[String: Any]] ?? []
        #expect(!own.isEmpty)
        #expect(own.allSatisfy { $0["project"] as? String == "alpha" })
    }

    @Test(
        "with maxRunningJobs 1 a project's second job waits while its first runs; maxQueuedJobs is a 429 with Retry-After; a step's ceilings bound it"
    )
    func quotas() async throws {
        let server = try await Self.server("quotas", arguments: ["--max-concurrent-jobs", "4"])
        defer { server.stop() }
        let admin = Client(server: server, token: Self.serverToken)
        let put = try await admin.call(.PUT, "/projects/alpha", #"{"maxRunningJobs":1,"maxQueuedJobs":1}"#)
        #expect(put.status == 201, "\(put.json)")
        #expect(try await admin.call(.PUT, "/projects/alpha", #"{"maxRunningJobs":1,"maxQueuedJobs":1}"#).status == 200)
        let bad = try await admin.call(.PUT, "/projects/alpha", #"{"maxRunningJobs":-1}"#)
        #expect(bad.status == 400)
        #expect((bad.json["error"] as? String)?.contains("maxRunningJobs") == true, "\(bad.json)")
        let alpha = try await admin.token(project: "alpha", scope: "submit", name: "bob")

        let first = try await alpha.submit("sleep 120")
        _ = try await Self.wait(admin, first) { $0["phase"] as? String == "running" }
        let second = try await alpha.submit("echo second")
        // The queue is full now: one waits.
        let full = try await alpha.call(.POST, "/jobs", ServerProcess.shellJob("echo third"))
        #expect(full.status == 429)
        #expect(full.headers["retry-after"] != nil)
        #expect((full.json["error"] as? String)?.contains("maxQueuedJobs") == true)
        // Another project's job runs meanwhile: the node has slots, the project has none.
        let other = try await admin.submit("echo other", project: "beta")
        _ = try await Self.wait(admin, other) { $0["status"] as? String == "complete" }
        #expect(try await admin.call(.GET, "/jobs/\(second)").json["phase"] as? String == "queued")
        #expect(try await admin.call(.GET, "/jobs/\(first)").json["phase"] as? String == "running")
        // Once the first ends, the second runs.
        #expect(try await alpha.call(.POST, "/jobs/\(first)/cancel").status == 200)
        let done = try await Self.wait(admin, second) { $0["status"] as? String == "complete" }
        let firstEnded = try await admin.call(.GET, "/jobs/\(first)").json["finishedAt"] as? String
        #expect(
            try #require(done["startedAt"] as? String) >= (firstEnded ?? ""), "the second started once the first ended")

        // A step's ceilings: more is a 400 naming the field; none asked gets the ceiling.
        _ = try await admin.call(.PUT, "/projects/small", #"{"maxStepMemory":"64m","maxStepCPUs":0.5}"#)
        let small = try await admin.token(project: "small", scope: "submit", name: "sam")
        let big = try await small.call(
            .POST, "/jobs", #"{"steps":[{"source":"dray/upper","memory":"1g"},{"source":"dray/upper","cpus":2}]}"#)
        #expect(big.status == 400)
        let problems = big.json["problems"] as? [String] ?? []
        #expect(problems.contains { $0.hasPrefix("steps[0].memory") }, "\(big.json)")
        #expect(problems.contains { $0.hasPrefix("steps[1].cpus") }, "\(big.json)")
        let bounded = try await small.call(.POST, "/jobs", #"{"steps":[{"source":"dray/upper"}]}"#)
        let step = (bounded.json["steps"] as? [[String: Any]])?.first
        #expect(step?["memory"] as? Int == 64 << 20, "\(bounded.json)")
        #expect(step?["cpus"] as? Double == 0.5)
    }

    @Test("one slot, 200 jobs queued in project A and 5 in B: B's 5 all start before A's 20th")
    func fairTurns() async throws {
        let server = try await Self.server("fair", arguments: ["--max-concurrent-jobs", "1"])
        defer { server.stop() }
        let admin = Client(server: server, token: Self.serverToken)
        let a = try await admin.token(project: "a", scope: "submit", name: "a-robot")
        let b = try await admin.token(project: "b", scope: "submit", name: "b-robot")
        // The one slot is busy while the queues fill.
        let blocker = try await admin.submit("sleep 120")
        _ = try await Self.wait(admin, blocker) { $0["phase"] as? String == "running" }
        var aJobs: [String] = []
        for index in 0..<200 { aJobs.append(try await a.submit("echo a\(index)")) }
        var bJobs: [String] = []
        for index in 0..<5 { bJobs.append(try await b.submit("echo b\(index)")) }
        #expect(try await admin.call(.GET, "/jobs/\(blocker)").json["phase"] as? String == "running")
        // Every queue is full: the slot frees, and the claims take turns.
        #expect(try await admin.call(.POST, "/jobs/\(blocker)/cancel").status == 200)
        var bStarts: [String] = []
        for id in bJobs {
            let state = try await Self.wait(admin, id) { $0["status"] as? String == "complete" }
            bStarts.append(try #require(state["startedAt"] as? String))
        }
        let aJobsNow =
            try JSONSerialization.jsonObject(with: try await admin.call(.GET, "/jobs?project=a&limit=1000").body)
            as? [[String: Any]] ?? []
        #expect(aJobsNow.count == 200)
        let aStarts = aJobsNow.compactMap { $0["startedAt"] as? String }.sorted()
        #expect(aStarts.count < 20, "fewer than 20 of A's jobs started before B's 5 ended: \(aStarts.count)")
        #expect(bStarts.max()! < (aStarts.count >= 20 ? aStarts[19] : "~"))
        // A's other jobs are not waited for: they go with the server.
    }

    @Test("a token revoked through one node is refused at once by another", .timeLimit(.minutes(2)))
    func revokeOnEveryNode() async throws {
        let store = try await PostgresServer.freshDatabase()
        let folder = {
            FileManager.default.temporaryDirectory.appendingPathComponent("dray-rv-\(UUID().uuidString)").path
        }
        var nodes: [ServerProcess] = []
        for id in ["r1", "r2"] {
            let node = try ServerProcess(
                dataDirectory: folder(),
                arguments: ["--store", store, "--node-id", id, "--token-file", try AccessTests.file(Self.serverToken)])
            try await node.waitUntilUp()
            nodes.append(node)
        }
        defer { for node in nodes { node.stop() } }
        let made = try await Client(server: nodes[0], token: Self.serverToken).token(
            project: "p", scope: "read", name: "eve")
        let elsewhere = Client(server: nodes[1], token: made.token)
        #expect(try await elsewhere.call(.GET, "/jobs").status == 200)
        let id = try await made.id()
        #expect(
            try await Client(server: nodes[0], token: Self.serverToken).call(.DELETE, "/tokens/\(id)").status == 200)
        #expect(try await elsewhere.call(.GET, "/jobs").status == 401, "the other node refuses it at once")
        let entries =
            try await Client(server: nodes[1], token: Self.serverToken).call(.GET, "/audit?project=p").json["entries"]
            as? [[String: Any]] ?? []
        #expect(entries.contains { $0["action"] as? String == "token.revoke" && $0["outcome"] as? String == "ok" })
    }
}
