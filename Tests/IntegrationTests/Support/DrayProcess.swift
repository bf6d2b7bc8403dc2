import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the `dray` binary as a user would, with files for its standard streams, and reports
/// its exit status and its peak resident memory.
struct DrayProcess {
    struct Result {
        var status: Int32
        /// Peak resident set size, in KiB (`ru_maxrss`).
        var peakRSSKiB: Int
        var stdoutPath: String
        var stderr: String

        var stdout: Data { (try? Data(contentsOf: URL(fileURLWithPath: stdoutPath))) ?? Data() }
    }

    /// The built binary: `DRAY_BINARY`, or `.build/debug/dray` in this package.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["DRAY_BINARY"] { return path }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/dray").path
    }

    /// The package's root folder, for example files.
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Runs `dray arguments…` with `stdin` as its standard input (a file path, or text).
    static func run(
        _ arguments: [String], stdin: String? = nil, stdinText: String? = nil, environment: [String: String] = [:]
    ) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-process-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var input = stdin ?? "/dev/null"
        if let stdinText {
            input = folder + "/stdin"
            try Data(stdinText.utf8).write(to: URL(fileURLWithPath: input))
        }
        let out = folder + "/stdout"
        let err = folder + "/stderr"
        let argv = [binary] + arguments
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        let env = variables.map { "\($0.key)=\($0.value)" }
        let stdinPath = input
        let (status, rss) = try await withCheckedThrowingContinuation { continuation in
            // wait4 blocks: keep it off the cooperative pool.
            Thread.detachNewThread {
                continuation.resume(
                    with: Swift.Result<(Int32, Int), any Error> {
                        try spawnAndWait(argv, env: env, stdin: stdinPath, stdout: out, stderr: err)
                    })
            }
        }
        let stderrText = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        return Result(status: status, peakRSSKiB: rss, stdoutPath: out, stderr: stderrText)
    }

    private static func spawnAndWait(_ argv: [String], env: [String], stdin: String, stdout: String, stderr: String)
        throws -> (Int32, Int)
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = env.map { strdup($0) } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        let exited = status & 0x7F == 0
        return (exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), Int(usage.ru_maxrss))
    }
}

extension Result where Failure == any Error {
    init(_ body: () throws -> Success) {
        do { self = .success(try body()) } catch { self = .failure(error) }
    }
}
