import Foundation
import Testing

/// The Python client, installed with pip from `clients/python` as its README says, against a
/// live `dray serve` with a token (`Tests/python/client_test.py` makes the checks).
@Suite("The Python client")
struct PythonClientTests {
    @Test("pip installs it; it runs the Word Job and follows its log, reads outputs, and raises the API's errors typed")
    func wordJob() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-python-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A copy of the package: pip builds in the folder it is given, which must stay clean.
        let package = folder + "/package"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: DrayProcess.root + "/clients/python", toPath: package)
        try await Shell.check([
            "python3", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", folder + "/site",
            package,
        ])

        let token = "python-" + UUID().uuidString
        let server = try await ServerProcess.started("python", environment: ["DRAY_TOKEN": token])
        defer { server.stop() }
        let result = try await Shell.run(
            [
                "python3", DrayProcess.root + "/Tests/python/client_test.py", server.url, token,
                DrayProcess.root + "/examples/word-job.json",
            ],
            environment: ["PYTHONPATH": folder + "/site"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""ok": true"#), "\(result.stdout)")
    }
}
