import Foundation
import Testing

/// The client verbs against a real `dray serve`: submit --watch, logs -f, cancel, resume.
@Suite("dray's client verbs")
struct ClientCommandTests {
    func job(_ script: String) -> String { ServerProcess.shellJob(script, name: "work") }

    @Test(
        "submit --watch and logs -f follow the log live, each line after its step's name as dray run shows it, and exit with the job's outcome"
    )
    func follow() async throws {
        let server = try await ServerProcess.started("cli")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        let watched = try await DrayProcess.run(
            ["submit", "--watch", "-"], stdinText: job("for i in 1 2 3; do echo tick $i; sleep 0.3; done"),
            environment: environment)
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(watched.stderr == "[work] tick 1\n[work] tick 2\n[work] tick 3\n")
        let id = String(decoding: watched.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let logs = try await DrayProcess.run(["logs", "-f", "--index", "1", id], environment: environment)
        #expect(logs.status == 0)
        #expect(String(decoding: logs.stdout, as: UTF8.self) == "[work] tick 2\n[work] tick 3\n")

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
            #expect(resumed.stderr == "[work] HELLO\n", "only the resumed step's log, on its spooled input")
            let complete = try await DrayProcess.run(["resume", id], environment: environment)
            #expect(complete.status == 1)
            #expect(complete.stderr.contains("only a job that ended in error can resume"))
            _ = try? await docker.removeImage(image)
        }
    }

    @Test(
        "logs, submit --watch and ls show escape sequences from step output and names as visible escapes, unless --raw")
    func escapes() async throws {
        let server = try await ServerProcess.started("cli-escapes")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        // A title, a clear screen and an OSC 52 clipboard write, in the output and in the names.
        let job: [String: Any] = [
            "name": "job\u{1B}]0;owned\u{07}",
            "steps": [
                [
                    "name": "step\u{1B}[2J", "source": "dray-test/sh",
                    "environment": [
                        ["variable": "SCRIPT", "value": #"printf 'a\033]52;c;b3duZWQ=\007b\033[2Jc\n'"#]
                    ],
                ]
            ],
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: job), as: UTF8.self)
        let watched = try await DrayProcess.run(["submit", "--watch", "-"], stdinText: body, environment: environment)
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(watched.stderr == #"[step\x1b[2J] a\x1b]52;c;b3duZWQ=\x07b\x1b[2Jc"# + "\n", "\(watched.stderr)")
        let id = String(decoding: watched.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let logs = try await DrayProcess.run(["logs", id], environment: environment)
        #expect(
            String(decoding: logs.stdout, as: UTF8.self) == #"[step\x1b[2J] a\x1b]52;c;b3duZWQ=\x07b\x1b[2Jc"# + "\n")
        let raw = try await DrayProcess.run(["logs", "--raw", id], environment: environment)
        #expect(
            String(decoding: raw.stdout, as: UTF8.self) == "[step\u{1B}[2J] a\u{1B}]52;c;b3duZWQ=\u{07}b\u{1B}[2Jc\n")
        let list = try await DrayProcess.run(["ls"], environment: environment)
        let listed = String(decoding: list.stdout, as: UTF8.self)
        #expect(listed.contains(#"job\x1b]0;owned\x07"#), "\(listed)")
        #expect(!listed.contains("\u{1B}"))
    }

    @Test("submit --watch and logs -f follow a job with a secret, whose value the server does not send")
    func secretJob() async throws {
        let server = try await ServerProcess.started("cli-secret")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        let body = #"""
            {"environment":[{"variable":"TOKEN","value":"s3cr3t-value","secret":true}],
             "steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo token=$TOKEN"}]}]}
            """#
        let watched = try await DrayProcess.run(["submit", "--watch", "-"], stdinText: body, environment: environment)
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(watched.stderr == "[sh] token=***\n")
        let id = String(decoding: watched.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let followed = try await DrayProcess.run(["logs", "-f", id], environment: environment)
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(String(decoding: followed.stdout, as: UTF8.self) == "[sh] token=***\n")
    }
}
