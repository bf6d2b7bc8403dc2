import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Starts programs for tests the way a shell does: with no signal blocked and every signal's
/// default action. (A child inherits its parent thread's blocked signals, and the test runner's
/// threads block SIGTERM: a server started from them would never stop on SIGTERM.)
public enum ChildProcess {
    /// Starts `argv[0]` with `argv`, and its standard streams from and to these files.
    public static func spawn(
        _ argv: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        stdin: String = "/dev/null", stdout: String, stderr: String
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        return pid
    }

    /// How a child ended: its exit status, or 128 + the signal that ended it, as a shell says.
    public struct Exit: Sendable {
        public var status: Int32
        /// Peak resident set size of the child's own program, in KiB (its `VmHWM`).
        public var peakRSSKiB: Int
    }

    /// Waits for `pid` to end, on a thread of its own, reading its memory's high-water mark
    /// every 10 ms until then. `wait4`'s `ru_maxrss` would not do: a child made by
    /// `posix_spawn` shares this process's memory until it execs, and Linux counts this
    /// process's peak as the child's.
    public static func wait(_ pid: pid_t) async throws -> Exit {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                var peak = 0
                while true {
                    peak = max(peak, highWaterMarkKiB(of: pid) ?? 0)
                    let waited = waitpid(pid, &status, WNOHANG)
                    if waited == pid { break }
                    if waited < 0 && errno != EINTR {
                        continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                        return
                    }
                    usleep(10_000)
                }
                let exited = status & 0x7F == 0
                continuation.resume(
                    returning: Exit(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), peakRSSKiB: peak))
            }
        }
    }

    /// The `VmHWM` line of `/proc/PID/status`, in KiB; nil once the process has let go of its memory.
    public static func highWaterMarkKiB(of pid: pid_t) -> Int? {
        guard let status = procFile("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    }

    /// Sends `pid` SIGTERM and waits until it has ended, as a service manager stops a program.
    public static func terminate(_ pid: pid_t) {
        end(pid, with: SIGTERM)
    }

    /// Sends `pid` `signal` and waits until it has ended.
    public static func end(_ pid: pid_t, with signal: Int32) {
        kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// True while `pid` has not ended (or ended and was not waited for).
    public static func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }
}

/// The whole of a file under `/proc`. Foundation's `String(contentsOfFile:)` reads such a file
/// (whose size is 0) only up to its first page, 4 KiB: `/proc/mounts` or `/proc/net/tcp` read so
/// lose their later lines, and a test looking there misses what it looks for.
public func procFile(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd() else { return nil }
    return String(decoding: data, as: UTF8.self)
}
