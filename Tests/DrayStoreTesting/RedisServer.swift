import Foundation
import Synchronization

/// A real `redis-server` of its own for a test, on a free loopback port, with its data in a
/// fresh folder (append-only file on, so a stop and start keeps the data, as a restart of a
/// production Redis does). scripts/test installs Debian's redis-server; without it, this
/// throws, and the test fails: it never passes by skipping.
public final class RedisServer: Sendable {
    public let port: Int
    public let directory: String
    private let password: String?
    private let pid = Mutex<pid_t?>(nil)

    /// The URL a store connects with.
    public var url: String {
        "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)"
    }

    /// Starts a server; with `password`, clients must `AUTH`.
    public init(password: String? = nil) async throws {
        self.password = password
        port = try LoopbackPort.free()
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("dray-redis-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await start()
    }

    deinit {
        if let pid = pid.withLock({ $0 }) { ChildProcess.end(pid, with: SIGKILL) }
    }

    static var binary: String {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            + ["/usr/bin", "/usr/sbin"]
        where FileManager.default.isExecutableFile(atPath: "\(folder)/redis-server") {
            return "\(folder)/redis-server"
        }
        return "redis-server"
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts connections.
    public func start() async throws {
        let log = directory + "/redis.log"
        try? FileManager.default.removeItem(atPath: log)
        var arguments = [
            Self.binary, "--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
            "--appendonly", "yes", "--logfile", log, "--daemonize", "no",
        ]
        if let password { arguments += ["--requirepass", password] }
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(arguments, stdout: "/dev/null", stderr: directory + "/stderr")
        } catch {
            throw RedisServerError(
                "cannot start \(Self.binary) (\(error)): install Debian's redis-server, as scripts/test does")
        }
        self.pid.withLock { $0 = pid }
        for _ in 0..<1200 {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("Ready to accept connections") { return }
            guard ChildProcess.isRunning(pid) else { throw RedisServerError("redis-server exited: \(text)") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw RedisServerError("redis-server did not start within 30 s on port \(port)")
    }

    /// Stops the server with SIGTERM (it writes its data first) and waits for it to exit.
    public func stop() async throws {
        guard
            let pid = pid.withLock({ pid in
                defer { pid = nil }
                return pid
            })
        else { return }
        kill(pid, SIGTERM)
        _ = try await ChildProcess.wait(pid)
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
