import Foundation
import Testing

/// `dray run`, as a user runs it: bytes on stdout, lines on stderr, an exit status.
@Suite("dray run on the real Docker engine")
struct RunCommandTests {
    static func jobFile(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("job-\(UUID().uuidString).yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("the Word Job: a random word, upper-cased, then reversed", arguments: TestEngine.Kind.allCases)
    func wordJob(engine: TestEngine.Kind) async throws {
        let result = try await DrayProcess.run(
            ["run", DrayProcess.root + "/examples/word-job.json"], environment: try engine.environment())
        #expect(result.status == 0, "\(result.stderr)")
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(output.range(of: #"^[A-Z]+\n$"#, options: .regularExpression) != nil, "\(output)")
        let word = try #require(
            result.stderr.split(separator: "\n").first { $0.hasPrefix("[randword] ") }?.dropFirst(11))
        #expect(result.stderr.contains("[upper] \(word.uppercased())"))
        #expect(output == String(word.uppercased().reversed()) + "\n")
    }

    @Test(
        "a 2 MB line, binary bytes, CRLF and a missing final newline pass unchanged",
        arguments: TestEngine.Kind.allCases)
    func awkwardBytes(engine: TestEngine.Kind) async throws {
        let job = try Self.jobFile(
            #"""
            steps:
              - source: dray-test/sh
                environment:
                  - variable: SCRIPT
                    value: "printf 'crlf\\r\\nbinary\\000\\001\\377\\n'; head -c 2097152 /dev/zero | tr '\\000' x"
              - source: dray-test/sh
                environment: [{ variable: SCRIPT, value: cat }]
            """#)
        let result = try await DrayProcess.run(["run", job], environment: try engine.environment())
        #expect(result.status == 0, "\(result.stderr)")
        let expected =
            Data("crlf\r\nbinary".utf8) + Data([0, 1, 0xFF, 0x0A]) + Data(repeating: UInt8(ascii: "x"), count: 2 << 20)
        #expect(result.stdout == expected)
        // The log keeps the long line, cut, and says how long it was.
        #expect(result.stderr.contains("[line cut: 2097152 bytes]"))
    }

    @Test("a failing step: a one-line message, and dray exits with the step's code")
    func failure() async throws {
        let job = try Self.jobFile(
            """
            steps:
              - { source: dray-test/sh, environment: [{ variable: SCRIPT, value: "echo out" }] }
              - { name: upper, source: dray-test/sh, environment: [{ variable: SCRIPT, value: "exit 7" }] }
            """)
        let result = try await DrayProcess.run(["run", job])
        #expect(result.status == 7)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasSuffix("dray: step 2 \"upper\" exited with code 7\n"))
    }

    @Test("an invalid job is refused before anything runs, naming the field; exit 2")
    func invalidJob() async throws {
        let result = try await DrayProcess.run(["run", "-"], stdinText: #"{"steps": [{"name": "x"}]}"#)
        #expect(result.status == 2)
        #expect(result.stderr == "dray: stdin: steps[0].source is required\n")
    }

    @Test("a job from stdin, --env for every step, and -q for no log")
    func stdinEnvQuiet() async throws {
        let job =
            #"{"environment": [{"variable": "WHO", "value": "file"}], "steps": [{"source": "dray-test/sh", "environment": [{"variable": "SCRIPT", "value": "echo log-line >&2; echo hello $WHO"}]}]}"#
        let result = try await DrayProcess.run(["run", "-q", "--env", "WHO=flag", "-"], stdinText: job)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(String(decoding: result.stdout, as: UTF8.self) == "hello flag\n")
        #expect(result.stderr.isEmpty)
    }

    @Test("an engine that does not answer is a one-line error, exit 1")
    func noEngine() async throws {
        let job = try Self.jobFile("steps: [{ source: dray-test/sh }]")
        let result = try await DrayProcess.run(
            ["run", job], environment: ["DOCKER_HOST": "unix:///nonexistent/docker.sock"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("dray: cannot reach the Docker engine at unix:///nonexistent/docker.sock"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
