import DraySQLite
import Foundation
import Testing

/// Environment entries marked `secret`: given to the container, shown to nobody.
@Suite("Secrets")
struct SecretTests {
    static let secret = "hunter2-\(UUID().uuidString.prefix(8))"

    static var job: String {
        let data = try! JSONSerialization.data(
            withJSONObject: [
                "environment": [["variable": "TOKEN", "value": secret, "secret": true]],
                "steps": [
                    [
                        "source": "dray-test/sh",
                        "environment": [
                            ["variable": "SCRIPT", "value": #"echo "token=$TOKEN and $PASSWORD"; echo "$TOKEN" >&2"#],
                            ["variable": "PASSWORD", "value": "p4ss-\(secret)", "secret": true],
                        ],
                    ]
                ],
            ], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    @Test("a secret reaches the container, reads *** in the log, and no answer or server log holds it")
    func server() async throws {
        let server = try await ServerProcess.started("secrets")
        defer { server.stop() }
        let created = try await server.request(.POST, "/jobs", body: Self.job)
        #expect(created.status == 201)
        let body = String(decoding: created.body, as: UTF8.self)
        #expect(!body.contains(Self.secret), "\(body)")
        #expect(
            body.contains(#"{"secret":true,"variable":"TOKEN"}"#)
                || body.contains(#"{"variable":"TOKEN","secret":true}"#))
        let id = try #require(created.json["id"] as? String)
        let stream = try await server.request(.GET, "/jobs/\(id)/log?follow=true", timeout: .seconds(120))
        #expect(String(decoding: stream.body, as: UTF8.self).contains("event: end"))
        let log = try await server.request(.GET, "/jobs/\(id)/log")
        #expect((log.json["lines"] as? [String])?.sorted() == ["***", "token=*** and ***"])
        let state = try await server.request(.GET, "/jobs/\(id)")
        #expect(state.json["status"] as? String == "complete")
        #expect(!String(decoding: state.body, as: UTF8.self).contains(Self.secret))
        let environment = try #require(state.json["environment"] as? [[String: Any]])
        #expect(environment.first?["secret"] as? Bool == true)
        #expect(environment.first?["value"] == nil)
        #expect(!server.log.contains(Self.secret))

        // The job is complete and cannot run again: the store no longer holds the values.
        let store = try SQLiteJobStore(path: server.dataDirectory + "/dray.sqlite")
        var kept: [String] = []
        for _ in 0..<100 {
            kept = try #require(try await store.job(id: id)).job.secretValues
            if kept.allSatisfy(\.isEmpty) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(kept == ["", ""])
    }

    @Test("dray run masks secrets in the log lines it prints, and passes them to the step")
    func run() async throws {
        let result = try await DrayProcess.run(["run", "-"], stdinText: Self.job)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains(Self.secret), "\(result.stderr)")
        #expect(result.stderr.contains("token=*** and ***"), "\(result.stderr)")
        // The data passed on is the step's own output, unchanged: the container had the value.
        #expect(String(decoding: result.stdout, as: UTF8.self) == "token=\(Self.secret) and p4ss-\(Self.secret)\n")
    }
}
