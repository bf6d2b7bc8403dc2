import AsyncHTTPClient
import DrayStoreTesting
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import Testing

/// A `dray serve` process on a free loopback port, as an operator runs it.
final class ServerProcess {
    let port: Int
    let dataDirectory: String
    private let process = Process()
    private let logPath: String

    /// `https` when the server was started with `--tls-cert`.
    var scheme = "http"
    var url: String { "\(scheme)://127.0.0.1:\(port)" }

    init(
        dataDirectory: String, environment: [String: String] = [:], arguments: [String] = [],
        tls: TLSConfiguration? = nil, port: Int? = nil
    ) throws {
        self.dataDirectory = dataDirectory
        if let tls {
            self.tls = tls
            scheme = "https"
        }
        if let port { self.port = port } else { self.port = try LoopbackPort.free() }
        logPath = dataDirectory + "-server-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: DrayProcess.binary)
        process.arguments = ["serve", "--port", String(self.port), "--data-dir", dataDirectory] + arguments
        if environment["LD_PRELOAD"] != nil {
            // A Swift program that a process without the preloaded library (libfaketime) starts
            // reads no arguments; started by `env`, which has the library loaded, it reads them.
            process.arguments = [DrayProcess.binary] + (process.arguments ?? [])
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        }
        // A server that must be aborted prints every thread's backtrace into its log.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=yes,interactive=no,threads=all"]
        ) { $1 }.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
    }

    /// The server's peak resident memory so far, in bytes (`VmHWM`).
    var peakMemory: Int {
        (ChildProcess.highWaterMarkKiB(of: process.processIdentifier) ?? 0) * 1024
    }

    /// The environment that sets a server's wall clock `offset` from the host's (libfaketime, as
    /// `FAKETIME` spells it: "+1h", "-1h"). Sleeps and timeouts keep the real pace.
    static func clock(_ offset: String) -> [String: String] {
        [
            "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "FAKETIME": offset,
            "DONT_FAKE_MONOTONIC": "1",
        ]
    }

    /// The server's process id.
    var pid: Int32 { process.processIdentifier }

    /// Waits until `/healthz` answers.
    func waitUntilUp() async throws {
        for _ in 0..<200 {
            guard process.isRunning else {
                Issue.record("dray serve exited with status \(process.terminationStatus): \(log)")
                throw CancellationError()
            }
            if let response = try? await request(.GET, "/healthz", timeout: .seconds(1)), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("dray serve did not answer on port \(port): \(log)")
        throw CancellationError()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends the server `signal` (SIGSTOP, SIGCONT).
    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Ends the server with SIGKILL, as a crash would.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Stops the server with SIGTERM and waits for it, 60 s at most. A server still running
    /// then is a failure: it is aborted, so that its log shows where each thread was, and killed.
    ///
    /// It blocks its thread: use it in `defer`, for a server with no running jobs (it ends in
    /// milliseconds). A server that may take its `--shutdown-grace` is stopped with
    /// ``stopped()``, which waits without holding one of the few threads every task shares.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<600 where process.isRunning { usleep(100_000) }
        if process.isRunning { abortAndKill() }
    }

    /// ``stop()``, waiting without blocking a thread.
    func stopped() async {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<600 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { abortAndKill() }
    }

    private func abortAndKill() {
        kill(process.processIdentifier, SIGABRT)
        for _ in 0..<300 where process.isRunning { usleep(100_000) }
        Issue.record("dray serve did not stop within 60 s of SIGTERM: \(log)")
        kill9()
    }

    struct Answer {
        var status: Int
        var body: Data
        /// Header values by lower-case name (the last of a repeated one).
        var headers: [String: String] = [:]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    }

    func request(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [String: String] = [:],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> Answer {
        try await Self.request(method, url + path, body: body, headers: headers, tls: tls, timeout: timeout)
    }

    /// How to trust the server's certificate, for a server started with `--tls-cert`.
    var tls: TLSConfiguration?

    /// Sends a request to any URL, as a user's HTTP client would.
    static func request(
        _ method: HTTPMethod, _ url: String, body: String? = nil, headers: [String: String] = [:],
        tls: TLSConfiguration? = nil, timeout: TimeAmount = .seconds(30)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.tlsConfiguration = tls
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Answer(
            status: Int(response.status.code), body: Data(buffer: bytes),
            headers: Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }) { $1 })
    }
}

extension ServerProcess {
    /// A `dray serve` on a fresh data folder named after `purpose`, answering.
    static func started(
        _ purpose: String, environment: [String: String] = [:], arguments: [String] = [],
        tls: TLSConfiguration? = nil
    ) async throws -> ServerProcess {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(purpose)-\(UUID().uuidString)")
            .path
        let server = try ServerProcess(dataDirectory: data, environment: environment, arguments: arguments, tls: tls)
        do {
            try await server.waitUntilUp()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// Waits until job `id` has ended (neither queued nor running), 60 s at most, and returns its state.
    func waitUntilEnded(_ id: String) async throws -> [String: Any] {
        for _ in 0..<1200 {
            let state = try await request(.GET, "/jobs/\(id)").json
            if let status = state["status"] as? String, status != "queued", status != "running" { return state }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not end within 60 s: \(log)")
        return [:]
    }

    /// Waits until job `id`'s log is `lines`, 60 s at most (a bound, not a timing: every test runs
    /// at once on two cores, and a step's container may take seconds to start), and returns it.
    @discardableResult
    func waitForLog(_ id: String, _ lines: [String]) async throws -> [String] {
        var log: [String] = []
        for _ in 0..<1200 {
            log = try await request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] ?? []
            if log == lines { return log }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not log \(lines) within 60 s: \(log)")
        return log
    }

    /// A one-step job of the test image running `script`, as JSON.
    static func shellJob(_ script: String, name: String? = nil, stopGracePeriod: Double = 1) -> String {
        let step: [String: Any] = [
            "source": "dray-test/sh", "stopGracePeriod": stopGracePeriod,
            "environment": [["variable": "SCRIPT", "value": script]],
        ].merging(name.map { ["name": $0] } ?? [:]) { $1 }
        let data = try! JSONSerialization.data(withJSONObject: ["steps": [step]], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
