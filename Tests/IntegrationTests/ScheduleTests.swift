import DrayStoreTesting
import Foundation
import Testing

/// Schedules on real servers: many nodes on one PostgreSQL race for each tick, and one wins.
@Suite("Schedules", .serialized)
struct ScheduleTests {
    /// The jobs a schedule made, as any node lists them: their ids and ticks.
    static func scheduled(_ node: ServerProcess, _ schedule: String) async throws -> [(id: String, tick: Date)] {
        let list =
            try JSONSerialization.jsonObject(with: try await node.request(.GET, "/jobs").body) as? [[String: Any]]
        var jobs: [(String, Date)] = []
        for summary in list ?? [] {
            guard let id = summary["id"] as? String else { continue }
            let job = try await node.request(.GET, "/jobs/\(id)").json
            guard let made = job["schedule"] as? [String: Any], made["id"] as? String == schedule,
                let tick = (made["tick"] as? String).flatMap({ try? Date($0, strategy: .iso8601) })
            else { continue }
            jobs.append((id, tick))
        }
        return jobs.sorted { $0.1 < $1.1 }
    }

    @Test("@every 2s on 3 nodes makes one job per tick, none twice, and none while paused")
    func everyTwoSeconds() async throws {
        let store = try await PostgresServer.freshDatabase()
        var nodes: [ServerProcess] = []
        for id in ["s1", "s2", "s3"] { nodes.append(try await ClusterTests.node(id, store: store)) }
        defer { for node in nodes { node.stop() } }

        let created = try await nodes[0].request(
            .POST, "/schedules",
            body: #"{"cron":"@every 2s","overlap":true,"job":\#(ServerProcess.shellJob("echo tick"))}"#)
        #expect(created.status == 201, "\(created.json)")
        let id = try #require(created.json["id"] as? String)
        #expect(created.json["nextRunAt"] is String)
        #expect(created.json["timeZone"] as? String == "UTC")
        try await Task.sleep(for: .seconds(9))

        let paused = try await nodes[1].request(.POST, "/schedules/\(id)/pause")
        #expect(paused.json["paused"] as? Bool == true)
        #expect(paused.json["nextRunAt"] == nil)
        let jobs = try await Self.scheduled(nodes[2], id)
        #expect(jobs.count >= 3, "\(jobs)")
        #expect(Set(jobs.map(\.tick)).count == jobs.count, "no tick made two jobs: \(jobs)")
        for (earlier, later) in zip(jobs, jobs.dropFirst()) {
            #expect(abs(later.tick.timeIntervalSince(earlier.tick) - 2) < 0.01, "ticks 2 s apart: \(jobs)")
        }
        for job in jobs {
            #expect(try await nodes[0].waitUntilEnded(job.id)["status"] as? String == "complete")
        }
        // Paused: no more ticks run.
        try await Task.sleep(for: .seconds(5))
        #expect(try await Self.scheduled(nodes[0], id).count == jobs.count)
        let resumed = try await nodes[2].request(.POST, "/schedules/\(id)/resume")
        #expect(resumed.json["paused"] as? Bool == false)
        try await Task.sleep(for: .seconds(3))
        let after = try await Self.scheduled(nodes[0], id)
        #expect(after.count > jobs.count, "resumed, it runs again")
        #expect(after.count <= jobs.count + 2, "the ticks missed while paused do not run: \(after)")

        let listed = try await nodes[1].request(.GET, "/schedules").json["schedules"] as? [[String: Any]]
        #expect(listed?.map { $0["id"] as? String } == [id])
        #expect(try await nodes[0].request(.DELETE, "/schedules/\(id)").status == 204)
        #expect(try await nodes[1].request(.GET, "/schedules/\(id)").status == 404)
    }

    @Test("a schedule whose job still runs skips its ticks, unless overlap; a template runs with its params")
    func overlapAndTemplate() async throws {
        let server = try await ServerProcess.started("schedules")
        defer { server.stop() }
        let slow = try #require(
            try await server.request(
                .POST, "/schedules", body: #"{"cron":"@every 1s","job":\#(ServerProcess.shellJob("sleep 2.5"))}"#
            ).json["id"] as? String)
        let template =
            #"{"job":{"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo ${{ params.word }}"}]}]},"parameters":{"properties":{"word":{"type":"string"}},"required":["word"]}}"#
        #expect(try await server.request(.PUT, "/templates/say", body: template).status == 201)
        let saying = try #require(
            try await server.request(
                .POST, "/schedules", body: #"{"cron":"@every 2s","template":"say","params":{"word":"moss"}}"#
            ).json["id"] as? String)
        try await Task.sleep(for: .seconds(6.5))
        for id in [slow, saying] { _ = try await server.request(.POST, "/schedules/\(id)/pause") }

        var spans: [(Date, Date)] = []
        for job in try await Self.scheduled(server, slow) {
            let ended = try await server.waitUntilEnded(job.id)
            let start = try #require((ended["startedAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
            let end = try #require((ended["finishedAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
            spans.append((start, end))
        }
        #expect(spans.count >= 2 && spans.count <= 3, "ticks every second, a job of 2.5 s: \(spans)")
        for (earlier, later) in zip(spans, spans.dropFirst()) {
            #expect(later.0 >= earlier.1, "no two of its jobs overlap: \(spans)")
        }
        let said = try await Self.scheduled(server, saying)
        #expect(said.count >= 2)
        let first = try #require(said.first)
        _ = try await server.waitUntilEnded(first.id)
        #expect(
            String(decoding: try await server.request(.GET, "/jobs/\(first.id)/output").body, as: UTF8.self) == "moss\n"
        )
        #expect(
            (try await server.request(.GET, "/jobs/\(first.id)").json["template"] as? [String: Any])?["name"] as? String
                == "say")
    }

    @Test("dray schedule add, ls, pause, resume and rm")
    func command() async throws {
        let server = try await ServerProcess.started("schedule-cli")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        let added = try await DrayProcess.run(
            ["schedule", "add", "--cron", "0 9 * * mon-fri", "--time-zone", "Europe/Paris", "-"],
            stdinText: #"{"name":"morning","steps":[{"source":"dray-test/sh"}]}"#, environment: environment)
        #expect(added.status == 0, "\(added.stderr)")
        let id = String(decoding: added.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let listed = try await DrayProcess.run(["schedule", "ls"], environment: environment)
        let line = String(decoding: listed.stdout, as: UTF8.self)
        #expect(line.hasPrefix("\(id)  0 9 * * mon-fri  Europe/Paris  active  next 20"), "\(line)")
        #expect(line.hasSuffix("job morning\n"), "\(line)")
        let paused = try await DrayProcess.run(["schedule", "pause", id], environment: environment)
        #expect(String(decoding: paused.stdout, as: UTF8.self).contains("paused  next -"))
        let resumed = try await DrayProcess.run(["schedule", "resume", id], environment: environment)
        #expect(String(decoding: resumed.stdout, as: UTF8.self).contains("active"))
        #expect(try await DrayProcess.run(["schedule", "rm", id], environment: environment).status == 0)
        let gone = try await DrayProcess.run(["schedule", "rm", id], environment: environment)
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("no schedule"), "\(gone.stderr)")
        let bad = try await DrayProcess.run(
            ["schedule", "add", "--cron", "61 * * * *", "-"], stdinText: ServerProcess.shellJob("true"),
            environment: environment)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("minute"), "\(bad.stderr)")
    }

    @Test("a bad schedule is a 400 naming its field")
    func refused() async throws {
        let server = try await ServerProcess.started("schedules-refused")
        defer { server.stop() }
        let job = ServerProcess.shellJob("true")
        for (body, field) in [
            (#"{"cron":"61 * * * *","job":\#(job)}"#, "the minute field"),
            (#"{"cron":"@every 1m","timeZone":"Mars/Olympus","job":\#(job)}"#, "timeZone"),
            (#"{"cron":"@hourly"}"#, "a job or a template"),
            (#"{"cron":"@hourly","template":"nope"}"#, "template nope does not exist"),
            (#"{"cron":"@hourly","job":{"steps":[]}}"#, "job.steps must contain at least one step"),
            (#"{"cron":"@hourly","catchUp":"all","job":\#(job)}"#, "catchUp"),
            (#"{"job":\#(job)}"#, "cron"),
        ] {
            let answer = try await server.request(.POST, "/schedules", body: body)
            #expect(answer.status == 400, "\(body)")
            #expect((answer.json["error"] as? String)?.contains(field) == true, "\(body): \(answer.json)")
        }
        #expect(try await server.request(.POST, "/schedules/\(UUID().uuidString)/pause").status == 404)
    }
}
