import DrayStoreTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A private registry: Debian's `docker-registry` on a loopback port, behind htpasswd (user
/// `dray`), holding `IMAGE` pushed with the docker CLI after a `docker login` kept in
/// `loggedIn/config.json`. The engine's own copy is removed, so a run must pull it.
final class LoginRegistry {
    static let user = "dray"
    static let password = "s3cret-\(UUID().uuidString.prefix(8))"

    let folder: String
    let address: String
    private let pid: pid_t

    /// A `DOCKER_CONFIG` folder with the registry's login, as `docker login` wrote it.
    var loggedIn: String { folder + "/logged-in" }

    init() async throws {
        folder =
            FileManager.default.temporaryDirectory.appendingPathComponent("dray-registry-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/logged-in", withIntermediateDirectories: true)
        let htpasswd = try await Shell.check(["htpasswd", "-Bbn", Self.user, Self.password])
        try Data((htpasswd + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/htpasswd"))
        address = "127.0.0.1:\(try LoopbackPort.free())"
        let configuration = """
            version: 0.1
            log: { level: warn }
            storage: { filesystem: { rootdirectory: \(folder)/data } }
            http: { addr: \(address) }
            auth: { htpasswd: { realm: dray-test, path: \(folder)/htpasswd } }
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: folder + "/config.yml"))
        pid = try ChildProcess.spawn(
            ["/usr/bin/env", "docker-registry", "serve", folder + "/config.yml"], stdout: folder + "/log",
            stderr: folder + "/log")
        for _ in 0..<100 {
            if (try? await ServerProcess.request(.GET, "http://\(address)/v2/", timeout: .seconds(1))) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Shell.check(
            ["docker", "--config", loggedIn, "login", "-u", Self.user, "--password-stdin", address],
            stdin: Self.password)
    }

    /// Pushes the test image `dray-test/version:v2` (it prints `v2`) as `NAME`, and removes the
    /// engine's copy; returns the reference.
    func push(as name: String) async throws -> String {
        let reference = "\(address)/\(name):latest"
        try await Shell.check(["docker", "tag", "dray-test/version:v2", reference])
        try await Shell.check(["docker", "--config", loggedIn, "push", "-q", reference])
        try await Shell.check(["docker", "rmi", reference])
        return reference
    }

    func stop() {
        ChildProcess.terminate(pid)
        try? FileManager.default.removeItem(atPath: folder)
    }
}
