import DrayEngine
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP server: the API on Hummingbird, with the job service running beside it.
public enum DrayServer {
    /// How the server listens and what it accepts.
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 3000
        /// The largest job description accepted; larger gets 413.
        public var maxBodyBytes = 1 << 20

        public init() {}
    }

    /// The OpenAPI description of the API, as served at `/openapi.yaml`.
    public static let openAPI: ByteBuffer = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url)
        else { return ByteBuffer(string: "openapi: 3.0.3\n") }
        return ByteBuffer(bytes: data)
    }()

    /// The responder for the API: the seed's routes, also under any `/v{version}` prefix.
    public static func responder(
        service: JobService, configuration: Configuration, logger: Logger
    ) -> some HTTPResponder<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware(logger: logger))
        JobRoutes(service: service, maxBodyBytes: configuration.maxBodyBytes, openAPI: openAPI).add(to: router)
        return VersionPrefixResponder(wrapped: router.buildResponder())
    }

    /// The application: the HTTP server and the job service, shut down gracefully together
    /// on SIGTERM or SIGINT.
    public static func application(
        service: JobService, configuration: Configuration, logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            responder: responder(service: service, configuration: configuration, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dray"),
            services: [service],
            logger: logger)
    }
}
