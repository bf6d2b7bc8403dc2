import DrayStoreTesting
import Foundation
import Testing

/// Webhooks: a receiver on loopback (`Tests/webhooks/receiver.py`, allowed with
/// `--allow-webhook`) that checks each delivery's signature as a GitHub-style receiver does.
@Suite("Webhooks")
struct WebhookTests {
    /// The receiver's requests, once `condition` holds of them; 30 s at most.
    static func requests(
        _ receiver: LoopbackScript, until condition: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        func requests() -> [[String: Any]] {
            receiver.lines("log").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        for _ in 0..<300 {
            if condition(requests()) { return requests() }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the receiver did not get what was expected: \(requests())")
        return requests()
    }

    @Test(
        "a job's webhooks and the server's get signed deliveries of its start and end; one that answers 500 twice gets the third try; deliveries are kept"
    )
    func deliveries() async throws {
        let secret = "job-secret-\(UUID().uuidString.prefix(8))"
        let serverSecret = "server-secret-\(UUID().uuidString.prefix(8))"
        let receiver = try await LoopbackScript(
            "webhooks/receiver.py", arguments: ["{folder}/log", secret, serverSecret])
        defer { receiver.stop() }
        let secretFile = receiver.folder + "/server-secret"
        try Data((serverSecret + "\n").utf8).write(to: URL(fileURLWithPath: secretFile))
        let hooks = "http://127.0.0.1:\(receiver.port)"
        let server = try await ServerProcess.started(
            "webhooks",
            arguments: [
                "--allow-webhook", "127.0.0.1", "--webhook", hooks + "/server", "--webhook-secret-file", secretFile,
            ])
        defer { server.stop() }

        let job = #"""
            {"name":"told","steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo hi"}]}],
             "webhooks":[{"url":"\#(hooks)/ok","secret":"\#(secret)","events":["start","end"]},{"url":"\#(hooks)/fail-twice"}]}
            """#
        let submitted = try await server.request(.POST, "/jobs", body: job)
        #expect(submitted.status == 201, "\(submitted.json)")
        let id = try #require(submitted.json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete")
        // The secret is never shown.
        let shown = try #require(ended["webhooks"] as? [[String: Any]])
        #expect(shown[0]["secret"] as? Bool == true)
        #expect(!String(decoding: try await server.request(.GET, "/jobs/\(id)").body, as: UTF8.self).contains(secret))

        let requests = try await Self.requests(receiver) { requests in
            requests.filter { $0["path"] as? String == "/fail-twice" }.count >= 3
                && requests.filter { $0["path"] as? String == "/ok" }.count >= 2
                && requests.contains { $0["path"] as? String == "/server" }
        }
        func at(_ path: String) -> [[String: Any]] { requests.filter { $0["path"] as? String == path } }
        #expect(at("/ok").map { $0["event"] as? String } == ["start", "end"])
        #expect(at("/ok").allSatisfy { $0["validJob"] as? Bool == true }, "\(at("/ok"))")
        let end = try #require(at("/ok").last?["body"] as? [String: Any])
        #expect(end["event"] as? String == "end")
        let summary = try #require(end["job"] as? [String: Any])
        #expect(summary["id"] as? String == id)
        #expect(summary["status"] as? String == "complete")
        #expect(summary["name"] as? String == "told")
        #expect(at("/server").count == 1)
        #expect(at("/server").first?["event"] as? String == "end")
        #expect(at("/server").first?["validServer"] as? Bool == true)
        #expect(at("/fail-twice").count == 3)
        #expect(at("/fail-twice").allSatisfy { $0["signature"] is NSNull }, "no secret, no signature")
        // The tries are the same delivery, a second and then two seconds apart.
        let times = at("/fail-twice").compactMap { $0["time"] as? Double }
        #expect(Set(at("/fail-twice").compactMap { $0["delivery"] as? String }).count == 1)
        #expect(times.count == 3 && times[1] - times[0] >= 0.9 && times[2] - times[1] >= 1.9, "\(times)")

        let kept = try await server.request(.GET, "/jobs/\(id)/deliveries").json["deliveries"] as? [[String: Any]]
        let deliveries = try #require(kept)
        #expect(deliveries.count == 4)
        let failing = try #require(deliveries.first { ($0["url"] as? String)?.hasSuffix("/fail-twice") == true })
        #expect(failing["status"] as? String == "delivered")
        #expect(failing["attempts"] as? Int == 3)
        #expect(failing["responseStatus"] as? Int == 200)
        #expect(deliveries.allSatisfy { $0["status"] as? String == "delivered" }, "\(deliveries)")
        // How long after the job's end its end was told.
        if let finished = (ended["finishedAt"] as? String).flatMap({ try? Date($0, strategy: .iso8601) }),
            let told = at("/ok").last?["time"] as? Double
        {
            print("webhook latency after the job's end: \(Int((told - finished.timeIntervalSince1970) * 1000)) ms")
        }
        #expect(try await server.request(.GET, "/jobs/\(UUID().uuidString)/deliveries").status == 404)
    }

    @Test("a webhook to a private address is a 400 unless --allow-webhook names it; a bad one names its field")
    func refused() async throws {
        let server = try await ServerProcess.started("webhooks-refused")
        defer { server.stop() }
        for (url, field) in [
            ("http://127.0.0.1:9/x", "webhooks[0].url"), ("http://10.1.2.3/x", "webhooks[0].url"),
            ("ftp://example.com/x", "webhooks[0].url"), ("https://user:pw@example.com/x", "webhooks[0].url"),
        ] {
            let job = #"{"steps":[{"source":"dray-test/sh"}],"webhooks":[{"url":"\#(url)"}]}"#
            let answer = try await server.request(.POST, "/jobs", body: job)
            #expect(answer.status == 400, "\(url)")
            #expect((answer.json["error"] as? String)?.contains(field) == true, "\(answer.json)")
        }
        let noEvents =
            #"{"steps":[{"source":"dray-test/sh"}],"webhooks":[{"url":"https://example.com/x","events":[]}]}"#
        let answer = try await server.request(.POST, "/jobs", body: noEvents)
        #expect(answer.status == 400)
        #expect((answer.json["error"] as? String)?.contains("webhooks[0].events") == true, "\(answer.json)")
        let unknown = try await server.request(
            .POST, "/jobs",
            body:
                #"{"steps":[{"source":"dray-test/sh"}],"webhooks":[{"url":"https://example.com/x","events":["done"]}]}"#
        )
        #expect(unknown.status == 400, "\(unknown.json)")
    }
}
