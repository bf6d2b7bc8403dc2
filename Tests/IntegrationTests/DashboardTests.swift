import Foundation
import Testing

/// The dashboard at `/`, in a real headless Chromium driven by Selenium (`Tests/browser/dashboard.py`),
/// on a real `dray serve` and the real engine. `scripts/test` installs Debian's `chromium` and
/// `chromium-driver`, and Selenium; a missing browser fails these tests, it never skips them.
/// Each scenario also fails when the browser's console shows an error it did not expect.
@Suite("The dashboard, in a real browser", .serialized)
struct DashboardTests {
    static let script = DrayProcess.root + "/Tests/browser/dashboard.py"
    /// The README's screenshots: made into this folder only when `DRAY_SCREENSHOTS` names one
    /// (`scripts/screenshots` sets it to `docs/`), so that a test run leaves the tree as it was.
    static let screenshots = ProcessInfo.processInfo.environment["DRAY_SCREENSHOTS"].flatMap { $0.isEmpty ? nil : $0 }

    /// `--screenshot` into the screenshots' folder as `name`, when screenshots are asked for.
    static func screenshot(_ name: String) -> [String] {
        screenshots.map { ["--screenshot", $0 + "/" + name] } ?? []
    }

    /// Runs a browser scenario and returns the JSON it printed last.
    static func browse(
        _ scenario: String, _ server: ServerProcess, _ arguments: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        let output = try await Shell.run(["python3", script, scenario, "--url", server.url] + arguments)
        try #require(
            output.status == 0, "the browser scenario \(scenario) failed: \(output.stderr)\n\(server.log.suffix(3000))",
            sourceLocation: sourceLocation)
        let last = output.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
    }

    static func submit(_ server: ServerProcess, _ body: String) async throws -> String {
        let answer = try await server.request(.POST, "/jobs", body: body)
        try #require(answer.status == 201, "POST /jobs: \(String(decoding: answer.body, as: UTF8.self))")
        return try #require(answer.json["id"] as? String)
    }

    static let wordJob =
        #"{"name":"Word Job","steps":[{"source":"dray/randword"},{"source":"dray/upper"},{"source":"dray/reverse"}]}"#

    /// A job that prints a stdout and a stderr line every 0.2 s for a minute, and a line of markup first.
    static let ticker = ServerProcess.shellJob(
        #"echo "<b>not bold</b>"; for i in $(seq 1 300); do echo "tick $i"; echo "warn $i" >&2; sleep 0.2; done"#,
        name: "ticker")

    @Test("the list shows a job submitted through the API, then its end; Tab and Enter open it; phone width; dark mode")
    func list() async throws {
        let server = try await ServerProcess.started("dashboard-list")
        defer { server.stop() }
        let id = try await Self.submit(server, Self.wordJob)
        let seen = try await Self.browse(
            "list", server, ["--job", id] + Self.screenshot("dashboard-list.png"))
        #expect(seen["status"] as? String == "complete")
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
    }

    @Test("a running job's page gets new log lines without a reload, stderr marked, markup as text; search and pause")
    func liveLog() async throws {
        let server = try await ServerProcess.started("dashboard-log")
        defer { server.stop() }
        let id = try await Self.submit(server, Self.ticker)
        _ = try await Self.browse("live-log", server, ["--job", id])
        _ = try await server.request(.DELETE, "/jobs/\(id)")
    }

    @Test("Cancel, confirmed, stops a running job: the API says error, reason canceled, and the page says so")
    func cancel() async throws {
        let server = try await ServerProcess.started("dashboard-cancel")
        defer { server.stop() }
        let id = try await Self.submit(server, Self.ticker)
        let seen = try await Self.browse("cancel", server, ["--job", id])
        #expect((seen["problem"] as? String)?.hasPrefix("Canceled") == true)
        let state = try await server.waitUntilEnded(id)
        #expect(state["status"] as? String == "error")
        #expect(state["reason"] as? String == "canceled")
    }

    @Test("the form shows a bad job's problems by field, and submits a good one (YAML), opening its page")
    func submitForm() async throws {
        let server = try await ServerProcess.started("dashboard-submit")
        defer { server.stop() }
        let seen = try await Self.browse("submit", server)
        let problems = try #require(seen["problems"] as? [String])
        #expect(problems.contains("steps[0].source is required"))
        let id = try #require(seen["job"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["name"] as? String == "from the form")
        #expect(state["status"] as? String == "complete")
    }

    @Test("New job offers the templates with a form for the parameters; a bad value is named, a good run opens its job")
    func templateForm() async throws {
        let server = try await ServerProcess.started("dashboard-template")
        defer { server.stop() }
        #expect(try await server.request(.PUT, "/templates/greet", body: TemplateTests.template).status == 201)
        let seen = try await Self.browse("template", server, ["--job", "greet"])
        let id = try #require(seen["job"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["name"] as? String == "greet world")
        #expect(
            String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self)
                == "HELLO WORLD X1\n")
    }

    @Test("the schedules page lists a schedule with its next run, and pauses it")
    func schedules() async throws {
        let server = try await ServerProcess.started("dashboard-schedules")
        defer { server.stop() }
        let created = try await server.request(
            .POST, "/schedules",
            body: #"{"cron":"0 3 * * *","job":\#(ServerProcess.shellJob("true", name: "nightly"))}"#)
        let id = try #require(created.json["id"] as? String)
        _ = try await Self.browse("schedules", server, ["--job", id])
        #expect(try await server.request(.GET, "/schedules/\(id)").json["paused"] as? Bool == true)
    }

    @Test("with a token set the page asks for it, refuses a wrong one, keeps it in the tab, and sets no cookie")
    func token() async throws {
        let token = "dashboard-\(UUID().uuidString)"
        let file = try AccessTests.file(token + "\n")
        let server = try await ServerProcess.started("dashboard-token", arguments: ["--token-file", file])
        defer { server.stop() }
        let answer = try await server.request(
            .POST, "/jobs", body: Self.wordJob, headers: ["Authorization": "Bearer \(token)"])
        let id = try #require(answer.json["id"] as? String)
        _ = try await Self.browse("token", server, ["--job", id, "--token", token])
        // The page itself needs no token; it holds no data.
        #expect(try await server.request(.GET, "/").status == 200)
        #expect(try await server.request(.GET, "/jobs").status == 401)
    }

    @Test("a project's read token sees its project's jobs only, and is offered no action it may not take")
    func readToken() async throws {
        let token = "dashboard-\(UUID().uuidString)"
        let server = try await ServerProcess.started(
            "dashboard-read", arguments: ["--token-file", try AccessTests.file(token + "\n")])
        defer { server.stop() }
        let admin = ["Authorization": "Bearer \(token)"]
        let made = try await server.request(
            .POST, "/tokens", body: #"{"project":"alpha","scope":"read","name":"viewer"}"#, headers: admin)
        let reader = try #require(made.json["token"] as? String)
        let own = try await server.request(
            .POST, "/jobs", body: #"{"project":"alpha","steps":[{"source":"dray/upper"}]}"#, headers: admin)
        let id = try #require(own.json["id"] as? String)
        _ = try await server.request(.POST, "/jobs", body: Self.wordJob, headers: admin)
        _ = try await Self.browse("read-token", server, ["--job", id, "--token", reader])
    }

    @Test("a finished job's page shows each step's bar, exit code and attempts, and why it failed")
    func jobPage() async throws {
        let server = try await ServerProcess.started("dashboard-job")
        defer { server.stop() }
        let id = try await Self.submit(
            server,
            #"""
            {"name":"retried","steps":[
              {"name":"make","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo made; sleep 0.5"}]},
              {"name":"flaky","source":"dray-test/sh","retries":1,"environment":[{"variable":"SCRIPT","value":"cat; echo oops >&2; exit 2"}]}]}
            """#)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "error")
        let seen = try await Self.browse(
            "job-page", server,
            ["--job", id, "--steps", "2"] + Self.screenshot("dashboard-job.png"))
        let toolbar = try #require(seen["toolbar"] as? [String])
        #expect(!toolbar.contains("Follow the end") && !toolbar.contains("Pause"), "\(toolbar)")
        #expect(toolbar.contains("Download the log"), "\(toolbar)")
        let steps = try #require(seen["steps"] as? [String])
        #expect(steps.first?.hasPrefix("1. make dray-test/sh") == true, "\(steps)")
        #expect(
            steps.last?.contains("exit 2") == true && steps.last?.contains("Attempts: #1 exit 2, #2 exit 2") == true)
        #expect((seen["problem"] as? String)?.hasPrefix(#"Failed: step 2 "flaky" exited with code 2"#) == true)
        #expect(seen["downloads"] as? [Bool] == [true, false], "only the step that completed offers its output")
    }

    @Test(
        "a running step's Tap shows its lines as they flow; the slow step of a finished streaming job is marked the bottleneck"
    )
    func tapAndBottleneck() async throws {
        let server = try await ServerProcess.started("dashboard-tap")
        defer { server.stop() }
        let ticker =
            #"{"streaming":true,"steps":[{"name":"ticks","source":"dray-test/sh","stopGracePeriod":1,"environment":[{"variable":"SCRIPT","value":"for i in $(seq 1 300); do echo \"<i>tick $i</i>\"; sleep 0.1; done"}]},"#
            + #"{"name":"copy","source":"dray-test/sh","stopGracePeriod":1,"environment":[{"variable":"SCRIPT","value":"cat"}]}]}"#
        let id = try await Self.submit(server, ticker)
        let seen = try await Self.browse("tap", server, ["--job", id] + Self.screenshot("dashboard-tap.png"))
        #expect((seen["lines"] as? [String])?.first?.hasPrefix("<i>tick ") == true, "\(seen)")
        _ = try await server.request(.DELETE, "/jobs/\(id)")

        let slow =
            #"{"streaming":true,"steps":["#
            // 4 MB without a newline: a log of 266,000 lines would take the browser a minute to load.
            + OutputTests.step("make", "dd if=/dev/zero bs=65536 count=61 2>/dev/null") + ","
            + OutputTests.step(
                "slow", "while :; do c=$(head -c 65536 | wc -c); [ $c -eq 0 ] && break; echo read $c; sleep 0.02; done")
            + "," + OutputTests.step("count", "wc -l") + "]}"
        let slowID = try await Self.submit(server, slow)
        let ended = try await server.waitUntilEnded(slowID)
        #expect(ended["bottleneck"] as? Int == 2, "\(ended)")
        let page = try await Self.browse("job-page", server, ["--job", slowID, "--steps", "3"])
        #expect(page["bottleneck"] as? [Bool] == [false, true, false], "\(page)")
    }

    @Test("a graph's page draws each step in its column with its status, and an edge per need")
    func graph() async throws {
        let server = try await ServerProcess.started("dashboard-graph")
        defer { server.stop() }
        func step(_ name: String, _ script: String, _ needs: [String], when: String = "success") -> String {
            let list = needs.map { "\"\($0)\"" }.joined(separator: ",")
            return
                #"{"name":"\#(name)","source":"dray-test/sh","needs":[\#(list)],"when":"\#(when)","environment":[{"variable":"SCRIPT","value":"\#(script)"}]}"#
        }
        let steps = [
            step("split", "echo a", []), step("upper", "tr a-z A-Z", ["split"]), step("broken", "exit 1", ["split"]),
            step("join", "cat", ["upper", "broken"]), step("alert", "echo alert", ["join"], when: "failure"),
        ]
        let id = try await Self.submit(server, #"{"name":"graph","steps":["# + steps.joined(separator: ",") + "]}")
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "error")
        let seen = try await Self.browse(
            "graph", server, ["--job", id, "--steps", "5"] + Self.screenshot("dashboard-graph.png"))
        let nodes = try #require(seen["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["status"] as? String } == ["complete", "complete", "failed", "skipped", "complete"])
        // Columns by depth: split, then upper and broken, then join, then alert.
        let columns = nodes.compactMap { ($0["x"] as? String).flatMap(Double.init) }
        #expect(
            columns[1] == columns[2] && columns[0] < columns[1] && columns[2] < columns[3] && columns[3] < columns[4])
        #expect(seen["edges"] as? Int == 5)
        #expect((nodes.first?["text"] as? String)?.hasPrefix("split") == true)
    }

    @Test("the dashboard's files: a policy that loads nothing else, a 304 for a reload, HEAD, and no token needed")
    func files() async throws {
        let server = try await ServerProcess.started("dashboard-files")
        defer { server.stop() }
        for path in ["/", "/ui/dashboard.js", "/ui/dashboard.css"] {
            let answer = try await server.request(.GET, path)
            #expect(answer.status == 200, "\(path)")
            #expect(answer.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            #expect(answer.headers["x-content-type-options"] == "nosniff")
            let etag = try #require(answer.headers["etag"])
            #expect(try await server.request(.GET, path, headers: ["If-None-Match": etag]).status == 304)
            #expect(try await server.request(.HEAD, path).status == 200)
        }
        #expect(try await server.request(.POST, "/").status == 405)
        #expect(try await server.request(.GET, "/ui/other.js").status == 404)
    }
}
