import DrayStoreTesting
import Foundation
import Testing

/// Runs other programs (the docker CLI, docker-compose, openssl) as a shell would, found on `PATH`.
enum Shell {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        /// stdout without its final newline and surrounding blanks.
        var text: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Runs `arguments` in `directory` (default: the current one), with `stdin` as its input,
    /// and returns how it ended.
    static func run(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        stdin: String? = nil
    ) async throws -> Output {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-shell-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        let command = directory.map { ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, $0] + arguments } ?? arguments
        var input = "/dev/null"
        if let stdin {
            input = folder + "/in"
            try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
        }
        let pid = try ChildProcess.spawn(
            ["/usr/bin/env"] + command, environment: variables, stdin: input, stdout: folder + "/out",
            stderr: folder + "/err")
        let exit = try await ChildProcess.wait(pid)
        func read(_ name: String) -> String {
            (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
        }
        return Output(status: exit.status, stdout: read("out"), stderr: read("err"))
    }

    /// Runs `arguments` and returns its trimmed stdout; a non-zero exit is a test failure.
    @discardableResult
    static func check(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let output = try await run(arguments, in: directory, environment: environment, stdin: stdin)
        try #require(
            output.status == 0, "\(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)",
            sourceLocation: sourceLocation)
        return output.text
    }

    /// Unmounts `folder` at once (lazily, should something still hold it), blocking: for `defer`.
    static func unmountNow(_ folder: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = ["-l", folder]
        try process.run()
        process.waitUntilExit()
    }
}
