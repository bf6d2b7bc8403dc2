import DockerClient
import DrayDocker
import DrayEngine
import Foundation
import NIOCore
import NIOFileSystem
import Testing

/// The real engines the tests run on: Docker at `DOCKER_HOST`, and Podman's Docker-compatible
/// service at `DRAY_TEST_PODMAN_HOST`, as `scripts/test` sets them.
/// A missing engine fails the tests; it never skips them.
enum TestEngine {
    /// Which engine a test runs on.
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case docker
        case podman

        var testDescription: String { rawValue }

        /// Its `DOCKER_HOST` value.
        func host() throws -> String {
            let environment = ProcessInfo.processInfo.environment
            switch self {
            case .docker:
                return environment["DOCKER_HOST"] ?? "unix://\(DockerEndpoint.defaultSocketPath)"
            case .podman:
                return try #require(
                    environment["DRAY_TEST_PODMAN_HOST"],
                    "DRAY_TEST_PODMAN_HOST is not set: run the tests with scripts/test, which starts Podman's service")
            }
        }

        /// The environment that points `dray` at this engine.
        func environment() throws -> [String: String] { ["DOCKER_HOST": try host()] }
    }

    static func client(_ kind: Kind = .docker) async throws -> DockerClient {
        let endpoint = try DockerEndpoint(dockerHost: try kind.host())
        do {
            return try await DockerClient.connect(to: endpoint)
        } catch {
            Issue.record("no Docker engine answers at \(endpoint): run the tests with scripts/test (\(error))")
            throw error
        }
    }

    /// Runs `body` with a client of the real engine, and shuts the client down however `body`
    /// ends (a client left running traps when it is freed, which would end the whole test run).
    static func withClient<T>(_ kind: Kind = .docker, _ body: (DockerClient) async throws -> T) async throws -> T {
        try await with(try await client(kind), body)
    }

    /// ``withClient(_:_:)`` for the engine at `host` (a test's own).
    static func withClient<T>(host: String, _ body: (DockerClient) async throws -> T) async throws -> T {
        try await with(try await DockerClient.connect(to: try DockerEndpoint(dockerHost: host)), body)
    }

    private static func with<T>(_ client: DockerClient, _ body: (DockerClient) async throws -> T) async throws -> T {
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The local registry `scripts/test` started, as `HOST:PORT`.
    static func registry() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["DRAY_TEST_REGISTRY"],
            "DRAY_TEST_REGISTRY is not set: run the tests with scripts/test")
    }

    /// A step of the test image, which runs the shell script `script`.
    static func step(
        _ script: String, name: String? = nil, output: OutputChannel? = nil, environment: [EnvironmentVariable] = []
    )
        -> Step
    {
        Step(
            name: name, source: "dray-test/sh", environment: [.init(variable: "SCRIPT", value: script)] + environment,
            output: output)
    }

    /// What a job did: its final state, the last step's output and its log.
    struct Outcome {
        var id: String
        var state: JobState
        var output: [UInt8]
        var lines: [LogLine]

        var log: [String] { lines.map(\.text) }
    }

    /// Runs `job` in this process on the real engine, then checks that none of its containers is left.
    static func run(
        _ job: Job, on kind: Kind = .docker, sandbox: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Outcome {
        try await withClient(kind) { client in
            let outcome = try await FileSystem.shared.withTemporaryDirectory { _, spool in
                let id = UUID().uuidString
                let observer = RecordingObserver()
                let runner = JobRunner(runtime: DockerRuntime(client: client, sandbox: sandbox))
                let state = await runner.run(job, id: id, spoolDirectory: spool, observer: observer)
                var output: [UInt8] = []
                if state.status == .complete {
                    let path = JobRunner.outputPath(step: job.steps.count - 1, in: spool)
                    output = Array(
                        try await FileSystem.shared.withFileHandle(forReadingAt: path) {
                            try await $0.readToEnd(maximumSizeAllowed: .mebibytes(64))
                        }.readableBytesView)
                }
                return Outcome(id: id, state: state, output: output, lines: await observer.lines)
            }
            let left = try await client.listContainers(label: "dray.job=\(outcome.id)")
            #expect(left.isEmpty, "containers left after the job: \(left.map(\.id))", sourceLocation: sourceLocation)
            return outcome
        }
    }
}

actor RecordingObserver: JobObserver {
    var states: [JobState] = []
    var lines: [LogLine] = []
    var pulls: [String] = []
    func jobDidChange(_ state: JobState) { states.append(state) }
    func jobDidLog(_ lines: [LogLine]) { self.lines += lines }
    func jobDidPull(step: Int, progress: String) { pulls.append(progress) }
}
