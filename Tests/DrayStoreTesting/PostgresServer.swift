import Foundation
import Synchronization

/// PostgreSQL for tests, from Debian's packages (scripts/test installs them). Without it, these
/// throw and the test fails: it never passes by skipping.
///
/// - ``freshDatabase()``: a new, empty database on the server that scripts/test started for the
///   run (`DRAY_TEST_POSTGRES_URL`), for tests that only need a store.
/// - `PostgresServer()`: a server of the test's own (initdb, on a free loopback port), for tests
///   that stop and start it.
public final class PostgresServer: Sendable {
    public let port: Int
    public let directory: String
    private let pid = Mutex<pid_t?>(nil)

    /// The URL of its `postgres` database.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    /// The folder of Debian's PostgreSQL programs: the newest `/usr/lib/postgresql/N/bin`.
    static var programs: String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init)
            .sorted()
        return "\(root)/\(versions.last.map(String.init) ?? "15")/bin"
    }

    /// A new, empty database on the run's server, as a store URL.
    public static func freshDatabase() async throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["DRAY_TEST_POSTGRES_URL"], !admin.isEmpty else {
            throw PostgresServerError(
                message: "DRAY_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
        }
        let name = "dray_\(UUID().uuidString.prefix(8).lowercased())"
        try await psql(admin, "CREATE DATABASE \(name)")
        guard let slash = admin.range(of: "/", options: .backwards), let query = admin.firstIndex(of: "?") else {
            return admin + "/" + name
        }
        return String(admin[..<slash.upperBound]) + name + String(admin[query...])
    }

    /// Runs one statement with psql, as root or as the postgres user.
    static func psql(_ url: String, _ statement: String) async throws {
        try await run(["/usr/bin/psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
    }

    /// Makes a cluster of its own in a fresh folder (owned by the postgres user, as initdb
    /// refuses root) and starts it.
    public init() async throws {
        port = try LoopbackPort.free()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dray-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await Self.run(["/bin/chown", "postgres", directory])
        try await Self.run(
            [
                "/usr/sbin/runuser", "-u", "postgres", "--", Self.programs + "/initdb", "-D", directory + "/data",
                "--auth=trust", "-U", "postgres", "--no-sync",
            ])
        try await start()
    }

    deinit {
        guard let pid = pid.withLock({ $0 }) else { return }
        // runuser passes no signal on: signal the postmaster itself.
        if let postmaster { kill(postmaster, SIGQUIT) }
        ChildProcess.end(pid, with: SIGKILL)
    }

    /// The postmaster's pid, from its pid file (runuser, which started it, passes no signal on).
    private var postmaster: pid_t? {
        (try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8))?
            .split(separator: "\n").first.flatMap { pid_t($0) }
    }

    /// Runs a program to its end; a non-zero exit throws with what it wrote to stderr.
    private static func run(_ argv: [String]) async throws {
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("dray-pg-\(UUID().uuidString).err").path
        let pid = try ChildProcess.spawn(argv, stdout: "/dev/null", stderr: err)
        let exit = try await ChildProcess.wait(pid)
        let errors = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: err)
        guard exit.status == 0 else {
            throw PostgresServerError(message: "\(argv.joined(separator: " ")) exited \(exit.status): \(errors)")
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it answers.
    public func start() async throws {
        let pid = try ChildProcess.spawn(
            [
                "/usr/sbin/runuser", "-u", "postgres", "--", Self.programs + "/postgres", "-D", directory + "/data",
                "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "max_connections=200",
            ],
            stdout: directory + "/stdout", stderr: directory + "/stderr")
        self.pid.withLock { $0 = pid }
        for _ in 0..<200 {
            if (try? await Self.psql(url, "SELECT 1")) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? ""
        throw PostgresServerError(message: "PostgreSQL did not start on port \(port): \(log)")
    }

    /// Stops the server with PostgreSQL's fast shutdown (SIGINT to the postmaster).
    public func stop() async throws {
        guard
            let pid = pid.withLock({ pid in
                defer { pid = nil }; return pid
            })
        else { return }
        if let postmaster { kill(postmaster, SIGINT) } else { kill(pid, SIGKILL) }
        _ = try await ChildProcess.wait(pid)
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
