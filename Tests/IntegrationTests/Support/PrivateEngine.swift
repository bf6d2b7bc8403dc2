import DrayStoreTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A Docker engine of a test's own, which it may stop and start: a second `dockerd` with its
/// own socket, data and exec folders, holding the test image. It leaves the shared engine's
/// network alone: its containers use a bridge of its own, made here, and it writes no iptables
/// rules. (`--bridge none` would not do: dockerd then deletes `docker0`, the shared engine's.)
final class PrivateEngine {
    let folder: String
    let bridge: String
    private var pid: pid_t = 0

    var host: String { "unix://\(folder)/docker.sock" }

    init() async throws {
        let name = UUID().uuidString.prefix(8).lowercased()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-private-engine-\(name)").path
        bridge = "dray-\(name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let subnet = "10.213.\(Int.random(in: 0...255))"
        try await Shell.check(["ip", "link", "add", "name", bridge, "type", "bridge"])
        try await Shell.check(["ip", "addr", "add", "\(subnet).1/24", "dev", bridge])
        try await Shell.check(["ip", "link", "set", bridge, "up"])
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
                "--pidfile", folder + "/dockerd.pid", "--bridge", bridge, "--iptables=false", "--ip6tables=false",
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

    /// Stops dockerd and removes its folders and its bridge. A container's shim can outlive an
    /// engine that was stopped and started while it ran, holding the container's file system
    /// mounted under the folder: such shims, and the containers' processes (in mount namespaces
    /// of their own that mount the folder), are killed and the mounts taken away first, so that
    /// the folder goes and a test run leaves nothing behind.
    func remove() async {
        try? await stop()
        _ = try? await Shell.run(["pkill", "-KILL", "-f", "containerd-shim.*\(folder)"])
        killProcesses(mountingFolderElsewhere: folder)
        let mounts = procFile("/proc/mounts") ?? ""
        for line in mounts.split(separator: "\n").reversed() {
            let fields = line.split(separator: " ")
            if fields.count > 1, fields[1].hasPrefix(folder) {
                _ = try? await Shell.run(["umount", "-l", String(fields[1])])
            }
        }
        _ = try? await Shell.run(["rm", "-rf", folder])
        _ = try? await Shell.run(["ip", "link", "del", bridge])
    }

    /// Kills every process in another mount namespace than this one that mounts something
    /// under `folder`: a container's processes, left when their engine went away.
    private func killProcesses(mountingFolderElsewhere folder: String) {
        let namespace = { (pid: String) in
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
        }
        guard let ours = namespace("self"),
            let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return }
        for pid in pids.compactMap({ pid_t($0) }) {
            guard let theirs = namespace(String(pid)), theirs != ours,
                procFile("/proc/\(pid)/mountinfo")?.contains(folder) == true
            else { continue }
            kill(pid, SIGKILL)
        }
    }
}
