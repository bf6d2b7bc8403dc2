import DrayStoreTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A Docker engine of a test's own, which it may stop and start: a second `dockerd` with its
/// own socket, data and exec folders, without a bridge or iptables rules (so it leaves the
/// shared engine's network alone), holding the test image.
final class PrivateEngine {
    let folder: String
    private var pid: pid_t = 0

    var host: String { "unix://\(folder)/docker.sock" }

    init() async throws {
        folder = "/tmp/dray-private-engine-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try await start()
        let image = folder + "/image.tar"
        try await Shell.check(["docker", "save", "-o", image, "dray-test/sh"])
        try await Shell.check(["docker", "load", "-q", "-i", image], environment: ["DOCKER_HOST": host])
    }

    /// Starts dockerd and waits until it answers.
    func start() async throws {
        pid = try ChildProcess.spawn(
            [
                "/usr/bin/env", "dockerd", "--host", host, "--data-root", folder + "/data", "--exec-root",
                folder + "/exec",
                "--pidfile", folder + "/dockerd.pid", "--bridge", "none", "--iptables=false", "--ip6tables=false",
                "--shutdown-timeout", "1",
            ], stdout: folder + "/dockerd.log", stderr: folder + "/dockerd.log")
        for _ in 0..<240 {
            if (try? await Shell.run(["docker", "version"], environment: ["DOCKER_HOST": host]))?.status == 0 {
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("the private dockerd did not answer within 60 s")
        throw CancellationError()
    }

    /// Stops dockerd as `systemctl stop docker` does (SIGTERM), and waits for it to exit.
    func stop() async throws {
        kill(pid, SIGTERM)
        _ = try await ChildProcess.wait(pid)
    }

    /// Stops dockerd and removes its folders.
    func remove() async {
        try? await stop()
        _ = try? await Shell.run(["rm", "-rf", folder])
    }
}
