import Foundation
import Testing

/// `dray validate`, and the warnings `dray run` and `dray submit` print, as a user sees them.
@Suite("Checking job files")
struct ValidateCommandTests {
    static func file(_ text: String, _ name: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let typo = "steps:\n  - source: dray/upper\n    ouput: stderr\n"
    static let warning = #"steps[0].ouput is not a field of a step; did you mean "output"?"#

    @Test("dray validate prints every problem and warning with its file; exits 0, or 2 when any file is invalid")
    func validate() async throws {
        let good = DrayProcess.root + "/examples/word-job.json"
        let typo = try Self.file(Self.typo, "typo.yaml")
        let bad = try Self.file(#"{"steps":[{"source":"x","retries":1.5}]}"#, "bad.json")

        let fine = try await DrayProcess.run(["validate", good, typo])
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(
            String(decoding: fine.stdout, as: UTF8.self)
                == "\(good): valid\n\(typo): warning: \(Self.warning)\n\(typo): valid, 1 warning\n")

        let strict = try await DrayProcess.run(["validate", "--strict", good, typo])
        #expect(strict.status == 2)
        #expect(String(decoding: strict.stdout, as: UTF8.self).hasSuffix("\(typo): invalid, 1 warning\n"))

        let invalid = try await DrayProcess.run(["validate", good, bad, "/no/such/file.json"])
        #expect(invalid.status == 2)
        let output = String(decoding: invalid.stdout, as: UTF8.self)
        #expect(output.contains("\(bad): error: steps[0].retries must be a whole number from 0 to 100, not 1.5"))
        #expect(output.contains("/no/such/file.json: error: cannot read the job file"))
        #expect(output.contains("\(good): valid\n"))

        let stdin = try await DrayProcess.run(["validate", "-"], stdinText: Self.typo)
        #expect(stdin.status == 0)
        #expect(String(decoding: stdin.stdout, as: UTF8.self).hasPrefix("stdin: warning: "))
    }

    @Test("dray run and dray submit warn about unknown fields on stderr; --strict refuses them with exit 2")
    func runAndSubmit() async throws {
        let typo = try Self.file(#"{"steps":[{"source":"dray/randword","ouput":"stderr"}]}"#, "typo.json")
        let run = try await DrayProcess.run(["run", "-q", typo])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("dray: \(typo): warning: \(Self.warning)\n"), "\(run.stderr)")
        let strictRun = try await DrayProcess.run(["run", "--strict", typo])
        #expect(strictRun.status == 2)
        #expect(strictRun.stderr.contains("dray: \(typo): \(Self.warning)"), "\(strictRun.stderr)")

        let server = try await ServerProcess.started("validate")
        defer { server.stop() }
        let submit = try await DrayProcess.run(["submit", typo], environment: ["DRAY_URL": server.url])
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stderr == "dray: \(typo): warning: \(Self.warning)\n")
        let strictSubmit = try await DrayProcess.run(
            ["submit", "--strict", typo], environment: ["DRAY_URL": server.url])
        #expect(strictSubmit.status == 2)
        #expect(String(decoding: strictSubmit.stdout, as: UTF8.self).isEmpty)
    }
}
