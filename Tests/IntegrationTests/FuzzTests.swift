import Foundation
import Testing

extension HeavyTests {
    /// Schemathesis (from PyPI; `scripts/test` installs it) generates requests from the OpenAPI
    /// description, valid and invalid, one by one and as sequences that follow the links between
    /// operations, against a real `dray serve` on the real engine.
    @Suite("Fuzzing from the OpenAPI description")
    struct FuzzTests {
        @Test("no request gets a 5xx, and every answer is one the description allows")
        func schemathesis() async throws {
            let server = try await ServerProcess.started(
                "fuzz", arguments: ["--max-concurrent-jobs", "2", "--shutdown-grace", "0s"])
            defer { server.stop() }
            let result = try await Shell.run(
                [
                    "schemathesis", "run", server.url + "/openapi.yaml",
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--max-examples", "30", "--seed", "20261127", "--no-color",
                ], in: NSTemporaryDirectory())  // schemathesis keeps a cache folder where it runs
            #expect(result.status == 0, "schemathesis exited \(result.status):\n\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains(" passed"), "\(result.stdout)")
        }
    }
}
