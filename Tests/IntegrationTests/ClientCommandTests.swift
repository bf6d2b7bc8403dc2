import Foundation
import Testing

/// The client verbs against a real `dray serve`: submit --watch, logs -f, cancel, resume.
@Suite("dray's client verbs")
struct ClientCommandTests {
    func job(_ script: String) -> String { ServerProcess.shellJob(script, name: "work") }

    @Test("submit --watch and logs -f follow the log live and exit with the job's outcome")
    func follow() async throws {
        let server = try await ServerProcess.started("cli")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        let watched = try await DrayProcess.run(
            ["submit", "--watch", "-"], stdinText: job("for i in 1 2 3; do echo tick $i; sleep 0.3; done"),
            environment: environment)
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(watched.stderr == "tick 1\ntick 2\ntick 3\n")
        let id = String(decoding: watched.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let logs = try await DrayProcess.run(["logs", "-f", "--index", "1", id], environment: environment)
        #expect(logs.status == 0)
        #expect(String(decoding: logs.stdout, as: UTF8.self) == "tick 2\ntick 3\n")

        let failing = try await DrayProcess.run(
            ["submit", "--watch", "-"], stdinText: job("echo bad; exit 7"), environment: environment)
        #expect(failing.status == 7)
        #expect(failing.stderr.hasSuffix("dray: step 1 \"work\" exited with code 7\n"), "\(failing.stderr)")
    }

    @Test("cancel stops a running job; again is an error; resume --watch runs it from its step to the end")
    func cancelAndResume() async throws {
        let server = try await ServerProcess.started("cli")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        // Step 2's image waits for ever until it is fixed, under the same name, to upper-case
        // its input: no timing decides whether the cancel finds it running.
        try await TestEngine.withClient { docker async throws in
            let image = "dray-test/hang-\(UUID().uuidString.prefix(8).lowercased())"
            try await docker.tagImage("dray-test/sh", repository: image, tag: "latest")
            let body = #"""
                {"steps":[
                  {"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo hello"}]},
                  {"name":"work","source":"\#(image)","stopGracePeriod":1,
                   "environment":[{"variable":"SCRIPT","value":"echo begun; sleep 600"}]}
                ]}
                """#
            let submitted = try await DrayProcess.run(["submit", "-"], stdinText: body, environment: environment)
            let id = String(decoding: submitted.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            // Until step 2 runs.
            try #require(try await server.waitForLog(id, ["hello", "begun"]) == ["hello", "begun"])
            let canceled = try await DrayProcess.run(["cancel", id], environment: environment)
            #expect(canceled.status == 0, "\(canceled.stderr)")
            #expect(String(decoding: canceled.stdout, as: UTF8.self) == "\(id) error canceled\n")
            let again = try await DrayProcess.run(["cancel", id], environment: environment)
            #expect(again.status == 1)
            #expect(again.stderr.contains("nothing to cancel"), "\(again.stderr)")

            try await docker.tagImage("dray/upper", repository: image, tag: "latest")
            let resumed = try await DrayProcess.run(["resume", "--watch", id], environment: environment)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(String(decoding: resumed.stdout, as: UTF8.self) == "\(id) resumes from step 2 of 2\n")
            #expect(resumed.stderr == "HELLO\n", "only the resumed step's log, on its spooled input")
            let complete = try await DrayProcess.run(["resume", id], environment: environment)
            #expect(complete.status == 1)
            #expect(complete.stderr.contains("only a job that ended in error can resume"))
            _ = try? await docker.removeImage(image)
        }
    }
}
