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
    ///   - observe: Told of each engine call and how long it took, for the metrics.
    static func open(
        environment: [String: String], logins: RegistryLogins?, labels: [String: String] = [:], sandbox: Bool,
        logger: Logger = Logger(label: "dray.docker"),
        observe: (@Sendable (_ call: String, _ duration: Duration) -> Void)? = nil
    ) async throws -> EngineConnection {
        let client = try await DockerClient.connect(
            to: try DockerEndpoint(environment: environment), logger: logger, observe: observe)
        return EngineConnection(
            runtime: DockerRuntime(client: client, logins: logins, labels: labels, sandbox: sandbox),
            endpoint: "\(client.endpoint)", close: { try? await client.shutdown() })
    }

    /// Closes the connection to the engine.
    func shutdown() async {
        await close()
    }
}
