import DrayAPI
import DrayEngine
import DrayServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The API's shapes, through the router itself (`app.test(.router)`: no socket) on the fake
/// runtime (no Docker): what a client reads from each route, and each mistake's 4xx. The
/// integration tests run the same routes on a real engine and a real server.
@Suite("The API's routes, without sockets or Docker")
struct APIRouteTests {
    /// Runs `body` with a client of a router on a fresh service (SQLite, fake runtime).
    func withAPI(
        token: BearerToken? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let (service, _) = try JobServiceTests.service(slots: 2)
        var configuration = DrayServer.Configuration()
        configuration.token = token
        let app = Application(
            responder: DrayServer.responder(
                service: service, configuration: configuration, logger: Logger(label: "test")))
        try await JobServiceTests.running(service) {
            try await app.test(.router) { client in try await body(client) }
        }
    }

    static let word =
        #"{"name":"word","steps":[{"source":"fake","environment":[{"variable":"SCRIPT","value":"hello"}]},{"source":"fake","name":"second","environment":[{"variable":"SCRIPT","value":"world"}]}]}"#

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any],
            "\(response.status): \(String(buffer: response.body))")
    }

    func execute(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, body: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    /// Polls `GET /jobs/{id}` until the job has ended.
    func ended(_ client: any TestClientProtocol, _ id: String) async throws -> [String: Any] {
        for _ in 0..<300 {
            let job = try json(try await execute(client, .get, "/jobs/\(id)"))
            if job["status"] as? String != "running" { return job }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("job \(id) did not end")
        return [:]
    }

    @Test("submit, get, the log with and without detail, the live log, the output, and the list")
    func shapes() async throws {
        try await withAPI { client in
            let submitted = try await execute(client, .post, "/jobs", body: Self.word)
            #expect(submitted.status == .created)
            let echoed = try json(submitted)
            let id = try #require(echoed["id"] as? String)
            #expect(echoed["name"] as? String == "word" && (echoed["steps"] as? [Any])?.count == 2)

            let job = try await ended(client, id)
            #expect(job["status"] as? String == "complete" && job["phase"] as? String == "complete")
            #expect(job["stepsCompleted"] as? Int == 2 && job["totalSteps"] as? Int == 2)
            let steps = try #require(job["steps"] as? [[String: Any]])
            #expect(steps.map { $0["exitCode"] as? Int } == [0, 0])
            #expect(steps[1]["name"] as? String == "second" && steps[1]["output"] as? String == "stdout")

            let log = try json(try await execute(client, .get, "/jobs/\(id)/log"))
            #expect(log["lines"] as? [String] == ["hello", "hello", "world"])
            #expect(log["steps"] == nil)
            let detail = try json(try await execute(client, .get, "/jobs/\(id)/log?detail=true"))
            #expect(detail["steps"] as? [Int] == [1, 2, 2])
            #expect(detail["streams"] as? [String] == ["stdout", "stdout", "stdout"])

            let live = try await execute(client, .get, "/jobs/\(id)/log?follow=true&detail=true")
            #expect(live.headers[.contentType] == "text/event-stream")
            var reader = LiveLog.Reader()
            let events = reader.feed(live.body)
            let lines = try events.filter { $0.type == "message" }.map {
                try JSONDecoder().decode(LogEntry.self, from: Data($0.data.utf8)).text
            }
            #expect(lines == ["hello", "hello", "world"])
            #expect(events.last?.type == "end")
            #expect(events.last?.data == #"{"status":"complete","stepsCompleted":2}"#)

            let output = try await execute(client, .get, "/jobs/\(id)/output")
            #expect(String(buffer: output.body) == "hello\nworld\n")
            let list = try await execute(client, .get, "/jobs")
            let jobs = try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [[String: Any]]
            #expect(jobs?.map { $0["id"] as? String } == [id], "the seed's list: an array of summaries")
            #expect(jobs?.first?["status"] as? String == "complete")
        }
    }

    @Test("each mistake is a 4xx whose JSON names it: a bad body, a field, a job, a method, a state")
    func mistakes() async throws {
        try await withAPI { client in
            let notJSON = try await execute(client, .post, "/jobs", body: "{")
            #expect(notJSON.status == .badRequest)
            #expect(try json(notJSON)["error"] as? String != nil)
            let noSource = try await execute(client, .post, "/jobs", body: #"{"steps":[{"name":"x"}]}"#)
            #expect(noSource.status == .badRequest)
            #expect(try (json(noSource)["error"] as? String)?.contains("steps[0].source") == true)
            let missing = try await execute(client, .get, "/jobs/nope")
            #expect(missing.status == .notFound)
            #expect(try (json(missing)["error"] as? String)?.contains("nope") == true)
            let method = try await execute(client, .delete, "/jobs/nope/log")
            #expect(method.status == .methodNotAllowed && method.headers[.allow] == "GET, HEAD")

            let id = try #require(try json(try await execute(client, .post, "/jobs", body: Self.word))["id"] as? String)
            _ = try await ended(client, id)
            let cancel = try await execute(client, .post, "/jobs/\(id)/cancel")
            #expect(cancel.status == .conflict)
            #expect(try (json(cancel)["error"] as? String)?.contains("ended") == true)
            let resume = try await execute(client, .post, "/jobs/\(id)/resume")
            #expect(resume.status == .conflict)
        }
    }

    @Test("with a token every route but /healthz and /readyz asks for it")
    func token() async throws {
        let token = try #require(BearerToken("s3cret-token"))
        try await withAPI(token: token) { client in
            #expect(try await execute(client, .get, "/jobs").status == .unauthorized)
            #expect(try await execute(client, .get, "/healthz").status == .ok)
            let wrong = try await execute(client, .get, "/jobs", headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await execute(client, .get, "/jobs", headers: [.authorization: "Bearer s3cret-token"])
            #expect(right.status == .ok)
        }
    }
}
