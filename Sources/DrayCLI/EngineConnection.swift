import DockerClient
import DrayDocker
import DrayEngine
import Logging

/// The container runtime that runs the steps, chosen in this one place, as the store is from
/// its URL (``StoreURL``): today a Docker or Podman engine, from `DOCKER_HOST` and its TLS
/// variables. A second runtime is a target of its own and a choice made here.
struct EngineConnection: Sendable {
    let runtime: any ContainerRuntime
    /// Where the engine is, for the log.
    let endpoint: String
    private let close: @Sendable () async -> Void

    /// Connects to the engine the environment names.
    ///
    /// - Parameters:
    ///   - logins: The registry logins a pull sends.
    ///   - labels: Put on every container, beside the job's.
    ///   - sandbox: Run each job's steps in a sandbox of their own (`--no-sandbox` turns it off).
    ///   - spareSandbox: Keep a started sandbox ready for the next job (a server: the runtime
    ///     lives across jobs), removed at ``shutdown()``.
    ///   - observe: Told of each engine call and how long it took, for the metrics.
    ///   - patience: How long to wait for an engine that cannot be reached (it may be starting).
    static func open(
        environment: [String: String], logins: RegistryLogins?, labels: [String: String] = [:], sandbox: Bool,
        spareSandbox: Bool = false, logger: Logger = Logger(label: "dray.docker"),
        observe: (@Sendable (_ call: String, _ duration: Duration) -> Void)? = nil,
        waiting patience: Duration = .zero
    ) async throws -> EngineConnection {
        let endpoint = try DockerEndpoint(environment: environment)
        let started = ContinuousClock.now
        var connected: DockerClient?
        while connected == nil {
            do {
                connected = try await DockerClient.connect(to: endpoint, logger: logger, observe: observe)
            } catch DockerClientError.transport(let message, _) where ContinuousClock.now - started < patience {
                // An engine that restarts as the server starts: waited for, said once.
                if ContinuousClock.now - started < .seconds(1) {
                    logger.warning("\(message); waiting up to \(patience) for it")
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        let client = connected!
        let runtime = DockerRuntime(
            client: client, logins: logins, labels: labels, sandbox: sandbox, spareSandbox: spareSandbox)
        return EngineConnection(
            runtime: runtime, endpoint: "\(client.endpoint)",
            close: {
                await runtime.shutdown()
                try? await client.shutdown()
            })
    }

    /// Closes the connection to the engine.
    func shutdown() async {
        await close()
    }
}
