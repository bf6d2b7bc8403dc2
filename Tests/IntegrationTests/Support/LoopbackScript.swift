import DrayStoreTesting
import Foundation
import Testing

/// A test's own HTTP server: a Python script from `Tests/` that listens on a free loopback
/// port (its first argument) and writes what it gets into a folder of its own.
final class LoopbackScript {
    let folder: String
    let port: Int
    private let pid: pid_t

    /// Starts `Tests/SCRIPT PORT ARGUMENTS…` (`{folder}` in an argument is the folder) and
    /// returns once it answers.
    init(_ script: String, arguments: [String] = []) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-script-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        port = try LoopbackPort.free()
        let folder = self.folder
        pid = try ChildProcess.spawn(
            ["/usr/bin/env", "python3", DrayProcess.root + "/Tests/" + script, String(port)]
                + arguments.map { $0.replacingOccurrences(of: "{folder}", with: folder) },
            stdout: folder + "/out", stderr: folder + "/out")
        for _ in 0..<100 {
            if (try? await ServerProcess.request(.GET, "http://127.0.0.1:\(port)/", timeout: .seconds(1))) != nil {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(script) did not answer: \(read("out"))")
    }

    /// A file of its folder, or "".
    func read(_ name: String) -> String {
        (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
    }

    /// The lines of a file of its folder.
    func lines(_ name: String) -> [String] {
        read(name).split(separator: "\n").map(String.init)
    }

    func stop() {
        ChildProcess.terminate(pid)
        try? FileManager.default.removeItem(atPath: folder)
    }
}
