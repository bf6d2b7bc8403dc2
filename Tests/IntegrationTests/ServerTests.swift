import DockerClient
import DrayDocker
import DrayEngine
import DrayServer
import DrayStoreTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOFileSystem
import Testing

/// The REST API on the real engine and each store on its real backend, through Hummingbird's test client.
@Suite("The REST API")
struct ServerTests: Sendable {
    let checker: OpenAPIChecker

    init() throws {
        checker = try OpenAPIChecker()
    }

    /// Runs `body` against a server with a fresh store.
    func withServer(
        _ kind: StoreKind,
        maxBodyBytes: Int = 1 << 20,
        jobs: JobService.Configuration = .init(),
        engine: TestEngine.Kind = .docker,
        _ body: @Sendable (any TestClientProtocol, JobService) async throws -> Void
    ) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-server-\(UUID().uuidString)")
            .path
        try await TestEngine.withClient(engine) { docker in
            let (store, closeStore) = try await kind.make(in: folder)
            let logger = Logger(label: "dray-test")
            let service = JobService(
                store: store, runtime: DockerRuntime(client: docker), spoolRoot: FilePath(folder + "/spool"),
                logger: logger,
                configuration: jobs
            )
            var configuration = DrayServer.Configuration()
            configuration.maxBodyBytes = maxBodyBytes
            let app = Application(
                responder: DrayServer.responder(service: service, configuration: configuration, logger: logger))
            // What the service's run() does besides waiting for shutdown.
            let cleaner = Task { await service.work() }
            defer { cleaner.cancel() }
            do {
                try await app.test(.router) { client in try await body(client, service) }
            } catch {
                await service.stopAll()
                try? await closeStore()
                throw error
            }
            await service.stopAll()
            try await closeStore()
        }
    }

    /// Sends a request, checks the answer against the OpenAPI description, and returns it.
    @discardableResult
    func call(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, route: String,
        body: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        let response = try await client.execute(
            uri: uri, method: method, headers: [.contentType: "application/json"],
            body: body.map { ByteBuffer(string: $0) })
        let problems = checker.problems(
            method: method.rawValue, path: route, status: Int(response.status.code),
            body: Data(response.body.readableBytesView))
        #expect(problems.isEmpty, "\(method) \(uri): \(problems)", sourceLocation: sourceLocation)
        if response.status != .noContent {
            #expect(
                response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        }
        return response
    }

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// A list's objects, as `GET /jobs` answers.
    func jsonArray(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]])
    }

    func waitUntilDone(_ client: any TestClientProtocol, _ id: String) async throws -> [String: Any] {
        // A bound, not a timing: all tests run at once on a small machine.
        for _ in 0..<1200 {
            let state = try json(try await call(client, .get, "/jobs/\(id)", route: "/jobs/{id}"))
            if state["status"] as? String != "running" { return state }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("job \(id) did not end in 120 s")
        return [:]
    }

    private let wordJob =
        #"{"name":"Word Job","steps":[{"source":"dray/randword"},{"source":"dray/upper"},{"source":"dray/reverse"}]}"#

    @Test(
        "POST /jobs answers 201 with the job and an upper-case id; the job runs to complete",
        arguments: StoreKind.allCases)
    func submitAndRun(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let created = try await call(client, .post, "/jobs", route: "/jobs", body: wordJob)
            #expect(created.status == .created)
            let job = try json(created)
            let id = try #require(job["id"] as? String)
            #expect(
                id.range(
                    of: "^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", options: .regularExpression)
                    != nil)
            #expect(job["name"] as? String == "Word Job")
            #expect((job["steps"] as? [Any])?.count == 3)

            let state = try await waitUntilDone(client, id)
            #expect(state["status"] as? String == "complete")
            #expect(state["stepsCompleted"] as? Int == 3)
            #expect(state["phase"] as? String == "complete")
            #expect((state["steps"] as? [[String: Any]])?.map { $0["exitCode"] as? Int } == [0, 0, 0])

            let log = try json(try await call(client, .get, "/jobs/\(id)/log?index=0", route: "/jobs/{id}/log"))
            let lines = try #require(log["lines"] as? [String])
            #expect(lines.count == 3)
            #expect(lines[1] == lines[0].uppercased())
            #expect(lines[2] == String(lines[1].reversed()))
            let tail = try json(try await call(client, .get, "/jobs/\(id)/log?index=2", route: "/jobs/{id}/log"))
            #expect(tail["lines"] as? [String] == [lines[2]])
        }
    }

    @Test(
        "a new job is running with stepsCompleted 0 at once; a client's id, status and stepsCompleted are ignored",
        arguments: StoreKind.allCases)
    func initialState(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let body =
                #"{"id":"mine","status":"complete","stepsCompleted":7,"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"sleep 1"}]}]}"#
            let job = try json(try await call(client, .post, "/jobs", route: "/jobs", body: body))
            let id = try #require(job["id"] as? String)
            #expect(id != "mine")
            let state = try json(try await call(client, .get, "/jobs/\(id)", route: "/jobs/{id}"))
            #expect(state["status"] as? String == "running")
            #expect(state["stepsCompleted"] as? Int == 0)
            #expect(try await waitUntilDone(client, id)["status"] as? String == "complete")
        }
    }

    @Test(
        "an unknown field is accepted with a Warning header and a warnings array; strict=true refuses it",
        arguments: [StoreKind.sqlite])
    func unknownFields(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let body = #"{"steps":[{"source":"dray/randword","ouput":"stderr"}],"nmae":"typo"}"#
            let created = try await call(client, .post, "/jobs", route: "/jobs", body: body)
            #expect(created.status == .created)
            let expected = [
                #"nmae is not a field of a job; did you mean "name"?"#,
                #"steps[0].ouput is not a field of a step; did you mean "output"?"#,
            ]
            #expect(try json(created)["warnings"] as? [String] == expected)
            #expect(
                created.headers[values: .init("Warning")!]
                    == expected.map {
                        "299 - \"\($0.replacingOccurrences(of: "\"", with: "\\\""))\""
                    })
            let quiet = try await call(client, .post, "/jobs", route: "/jobs", body: wordJob)
            #expect(try json(quiet)["warnings"] == nil)
            #expect(quiet.headers[values: .init("Warning")!].isEmpty)

            let strict = try await call(client, .post, "/jobs?strict=true", route: "/jobs", body: body)
            #expect(strict.status == .badRequest)
            #expect(try json(strict)["error"] as? String == expected.joined(separator: "; "))
            let badFlag = try await call(client, .post, "/jobs?strict=maybe", route: "/jobs", body: body)
            #expect(badFlag.status == .badRequest)
            #expect(try json(badFlag)["error"] as? String == #"strict must be true or false, not "maybe""#)

            let schema = try await client.execute(uri: "/schema/job.json", method: .get)
            #expect(schema.status == .ok)
            #expect(schema.headers[.contentType] == "application/schema+json")
            let parsed = try JSONSerialization.jsonObject(with: Data(schema.body.readableBytesView)) as? [String: Any]
            #expect(parsed?["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        }
    }

    @Test("every route answers under a /v{version} prefix too", arguments: StoreKind.allCases)
    func versionPrefix(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let job = try json(try await call(client, .post, "/v1.2/jobs", route: "/jobs", body: wordJob))
            let id = try #require(job["id"] as? String)
            let state = try json(try await call(client, .get, "/v1/jobs/\(id)", route: "/jobs/{id}"))
            #expect(state["id"] as? String == id)
            let list = try await call(client, .get, "/v0.9/jobs", route: "/jobs")
            #expect(String(buffer: list.body).contains(id))
            _ = try await waitUntilDone(client, id)
            try await call(client, .get, "/v1/jobs/\(id)/log", route: "/jobs/{id}/log")
            #expect(try await call(client, .delete, "/v1/jobs/\(id)", route: "/jobs/{id}").status == .noContent)
        }
    }

    @Test("GET /jobs lists {id} objects in creation order", arguments: StoreKind.allCases)
    func list(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            var ids: [String] = []
            for _ in 0..<3 {
                let job = try json(
                    try await call(
                        client, .post, "/jobs", route: "/jobs", body: #"{"steps":[{"source":"dray-test/sh"}]}"#))
                ids.append(try #require(job["id"] as? String))
            }
            let list = try await call(client, .get, "/jobs", route: "/jobs")
            let listed = try jsonArray(list)
            #expect(listed.compactMap { $0["id"] as? String } == ids)
            for id in ids { _ = try await waitUntilDone(client, id) }
        }
    }

    @Test(
        "GET /jobs pages: limit, a Link to the next page, newest first, status filters; bad parameters are 400s",
        arguments: StoreKind.allCases)
    func listPages(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            var ids: [String] = []
            for index in 0..<5 {
                let script = index == 2 ? "exit 1" : "true"
                let body =
                    #"{"name":"n\#(index)","steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"\#(script)"}]}]}"#
                let job = try json(try await call(client, .post, "/jobs", route: "/jobs", body: body))
                ids.append(try #require(job["id"] as? String))
            }
            for id in ids { _ = try await waitUntilDone(client, id) }
            var seen: [String] = []
            var uri: String? = "/jobs?limit=2&order=desc"
            while let next = uri {
                let page = try await call(client, .get, next, route: "/jobs")
                let jobs = try jsonArray(page)
                #expect(jobs.count <= 2)
                seen += jobs.compactMap { $0["id"] as? String }
                uri = page.headers[.init("Link")!].flatMap { link in
                    link.hasSuffix(#">; rel="next""#) ? String(link.dropFirst().dropLast(13)) : nil
                }
            }
            #expect(seen == ids.reversed(), "three pages of the newest first")
            let failed = try await call(client, .get, "/jobs?status=error", route: "/jobs")
            let failedJobs = try jsonArray(failed)
            #expect(failedJobs.map { $0["id"] as? String } == [ids[2]])
            #expect(failedJobs.first?["name"] as? String == "n2" && failedJobs.first?["phase"] as? String == "failed")
            #expect(failedJobs.first?["totalSteps"] as? Int == 1 && failedJobs.first?["reason"] as? String == "failed")
            for (query, field) in [
                ("limit=0", "limit"), ("limit=1001", "limit"), ("order=up", "order"), ("status=done", "status"),
                ("phase=running,nope", "phase"), ("limit=2&cursor=zzz", "cursor"),
            ] {
                let bad = try await call(client, .get, "/jobs?\(query)", route: "/jobs")
                #expect(bad.status == .badRequest, "\(query)")
                #expect((try json(bad)["error"] as? String)?.hasPrefix(field) == true, "\(query) names \(field)")
            }
        }
    }

    @Test(
        "GET /jobs without a limit streams every job, oldest first, across the store's pages",
        arguments: StoreKind.allCases)
    func listStreamed(_ store: StoreKind) async throws {
        try await withServer(store) { client, service in
            var ids: [String] = []
            for _ in 0..<2_345 {
                // Ended, so that the server does not claim them from the queue.
                var record = JobStoreContract.record(steps: 1, name: nil)
                record.state.complete()
                try await service.store.create(record)
                ids.append(record.id)
            }
            let list = try await call(client, .get, "/jobs", route: "/jobs")
            let listed = try jsonArray(list)
            #expect(listed.compactMap { $0["id"] as? String } == ids)
            let failed = try await call(client, .get, "/jobs?status=error", route: "/jobs")
            #expect(String(buffer: failed.body) == "[]")
        }
    }

    @Test("a failing step: status error, the step's exit code, and a message", arguments: StoreKind.allCases)
    func failure(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let body =
                #"{"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo one"}]},{"name":"upper","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo bad >&2; exit 3"}]}]}"#
            let id = try #require(
                try json(try await call(client, .post, "/jobs", route: "/jobs", body: body))["id"] as? String)
            let state = try await waitUntilDone(client, id)
            #expect(state["status"] as? String == "error")
            #expect(state["stepsCompleted"] as? Int == 1)
            #expect(state["error"] as? String == #"step 2 "upper" exited with code 3"#)
            let log = try json(try await call(client, .get, "/jobs/\(id)/log", route: "/jobs/{id}/log"))
            #expect(log["lines"] as? [String] == ["one", "bad"])
            #expect(log["steps"] == nil, "the seed's shape, unless detail is asked for")
            let detail = try json(
                try await call(client, .get, "/jobs/\(id)/log?detail=true", route: "/jobs/{id}/log"))
            #expect(detail["steps"] as? [Int] == [1, 2])
            #expect(detail["streams"] as? [String] == ["stdout", "stderr"])
            let events = String(
                buffer: try await client.execute(uri: "/jobs/\(id)/log?follow=true&detail=true", method: .get).body)
            #expect(events.contains(#"data: {"step":2,"stream":"stderr","text":"bad"}"#), "\(events)")
        }
    }

    @Test("log paging: limit, an index past the end, and a bad index or limit is a 400", arguments: StoreKind.allCases)
    func logPaging(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            let body =
                #"{"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"seq 1 50"}]}]}"#
            let id = try #require(
                try json(try await call(client, .post, "/jobs", route: "/jobs", body: body))["id"] as? String)
            _ = try await waitUntilDone(client, id)
            let page = try json(
                try await call(client, .get, "/jobs/\(id)/log?index=10&limit=5", route: "/jobs/{id}/log"))
            #expect(page["lines"] as? [String] == ["11", "12", "13", "14", "15"])
            let past = try json(try await call(client, .get, "/jobs/\(id)/log?index=500", route: "/jobs/{id}/log"))
            #expect((past["lines"] as? [String])?.isEmpty == true)
            for (query, message) in [
                ("index=-1", #"index must be a whole number of at least 0, not "-1""#),
                ("index=abc", #"index must be a whole number of at least 0, not "abc""#),
                ("limit=0", #"limit must be a whole number of at least 1, not "0""#),
            ] {
                let response = try await call(client, .get, "/jobs/\(id)/log?\(query)", route: "/jobs/{id}/log")
                #expect(response.status == .badRequest)
                #expect(try json(response)["error"] as? String == message)
            }
        }
    }

    @Test(
        "DELETE stops a running job, removes its container and its data: 204, then 404", arguments: StoreKind.allCases)
    func deleteRunning(_ store: StoreKind) async throws {
        try await withServer(store) { client, service in
            let body =
                #"{"steps":[{"source":"dray-test/sh","stopGracePeriod":1,"environment":[{"variable":"SCRIPT","value":"sleep 600"}]}]}"#
            let id = try #require(
                try json(try await call(client, .post, "/jobs", route: "/jobs", body: body))["id"] as? String)
            for _ in 0..<600 {
                if try await !service.runtime.jobContainers().filter({ $0.jobID == id }).isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let started = ContinuousClock.now
            #expect(try await call(client, .delete, "/jobs/\(id)", route: "/jobs/{id}").status == .noContent)
            #expect(ContinuousClock.now - started < .seconds(300), "the container was stopped, not waited for")
            #expect(try await service.runtime.jobContainers().filter { $0.jobID == id }.isEmpty)
            #expect(try await call(client, .get, "/jobs/\(id)", route: "/jobs/{id}").status == .notFound)
            #expect(try await call(client, .get, "/jobs/\(id)/log", route: "/jobs/{id}/log").status == .notFound)
            #expect(try await call(client, .delete, "/jobs/\(id)", route: "/jobs/{id}").status == .notFound)
            #expect(
                try await FileSystem.shared.info(forFileAt: service.spoolDirectory(of: id)) == nil,
                "its spools are gone")
        }
    }

    @Test(
        "bad job descriptions get a 400 that names the field",
        arguments: StoreKind.allCases,
        [
            (#"{"steps": ["#, "the job description is not valid JSON or YAML"),
            (#"{"steps": []}"#, "steps must contain at least one step"),
            (#"{"name": "x"}"#, "steps is required"),
            (#"{"steps": [{"name": "x"}]}"#, "steps[0].source is required"),
            (#"{"steps": [{"source": 5}]}"#, "steps[0].source must be a string"),
            (#"{"steps": [{"source": "a", "output": "rel/path"}]}"#, "steps[0].output must be"),
            (
                #"{"steps": [{"source": "a", "environment": [{"variable": "A=B", "value": "x"}]}]}"#,
                #"steps[0].environment[0].variable must not contain "=""#
            ),
            (
                #"{"steps": [{"source": "a"}], "environment": [{"variable": "", "value": "x"}]}"#,
                "environment[0].variable must not be empty"
            ),
            (#"["not", "a", "job"]"#, "the job description must be an object"),
            ("", "the request body is empty"),
        ])
    func badInput(_ store: StoreKind, _ example: (body: String, message: String)) async throws {
        let (body, message) = example
        try await withServer(store) { client, _ in
            let response = try await call(client, .post, "/jobs", route: "/jobs", body: body)
            #expect(response.status == .badRequest)
            let error = try #require(try json(response)["error"] as? String)
            #expect(error.hasPrefix(message), "\(error)")
        }
    }

    @Test("a body over the limit gets a 413", arguments: StoreKind.allCases)
    func tooLarge(_ store: StoreKind) async throws {
        try await withServer(store, maxBodyBytes: 1000) { client, _ in
            let big = #"{"name":""# + String(repeating: "x", count: 2000) + #"","steps":[{"source":"a"}]}"#
            let response = try await call(client, .post, "/jobs", route: "/jobs", body: big)
            #expect(response.status == .contentTooLarge)
            #expect(try json(response)["error"] as? String == "the job description is larger than 1000 bytes")
        }
    }

    @Test(
        "an unknown id is a JSON 404 on every route; an unknown route 404; a wrong method 405",
        arguments: StoreKind.allCases)
    func notFound(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            for (method, uri, route) in [
                (HTTPRequest.Method.get, "/jobs/NOPE", "/jobs/{id}"), (.get, "/jobs/NOPE/log", "/jobs/{id}/log"),
                (.delete, "/jobs/NOPE", "/jobs/{id}"),
            ] {
                let response = try await call(client, method, uri, route: route)
                #expect(response.status == .notFound)
                #expect(try json(response)["error"] as? String == "no job NOPE")
            }
            let unknown = try await client.execute(uri: "/nothing/here", method: .get)
            #expect(unknown.status == .notFound)
            #expect(try json(unknown)["error"] as? String == "no such route: GET /nothing/here")
            let wrong = try await client.execute(uri: "/jobs", method: .put)
            #expect(wrong.status == .methodNotAllowed)
            #expect(wrong.headers[.allow] == "GET, HEAD, POST")
            #expect(try json(wrong)["error"] as? String != nil)
        }
    }

    @Test("/healthz, /readyz and /openapi.yaml", arguments: StoreKind.allCases)
    func around(_ store: StoreKind) async throws {
        try await withServer(store) { client, _ in
            #expect(try await call(client, .get, "/healthz", route: "/healthz").status == .ok)
            let ready = try await call(client, .get, "/readyz", route: "/readyz")
            #expect(ready.status == .ok)
            #expect(try json(ready)["status"] as? String == "ready")
            let spec = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(spec.status == .ok)
            #expect(String(buffer: spec.body).hasPrefix("openapi: 3"))
        }
    }
}
