import DrayStoreTesting
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
        /// Peak resident set size, in KiB (`VmHWM`).
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
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        let pid = try ChildProcess.spawn(
            [binary] + arguments, environment: variables, stdin: input, stdout: out, stderr: err)
        let exit = try await ChildProcess.wait(pid)
        let stderrText = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        return Result(status: exit.status, peakRSSKiB: exit.peakRSSKiB, stdoutPath: out, stderr: stderrText)
    }
}
