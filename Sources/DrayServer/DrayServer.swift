import DrayAPI
import DrayEngine
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP server: the API on Hummingbird, with the job service running beside it.
public enum DrayServer {
    /// How the server listens and what it accepts.
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = APIDefaults.port
        /// The largest job description accepted; larger gets 413.
        public var maxBodyBytes = 1 << 20
        /// The token every route but `/healthz` and `/readyz` asks for; nil answers everyone.
        public var token: BearerToken?
        /// HTTPS with this certificate and key; nil serves plain HTTP.
        public var tls: TLSConfiguration?
        /// Names besides loopback's that a loopback server answers to in `Host`.
        public var publicNames: [String] = []
        /// How long a client may take to send a request's headers, from connecting or from the
        /// end of the last answer; then it is disconnected.
        public var headerTimeout: Duration = .seconds(30)
        /// How long a client may take to send a request's body, from the end of its headers;
        /// then it is disconnected.
        public var bodyTimeout: Duration = .seconds(30)
        /// Serve `/metrics` and time every request; false answers `/metrics` with a 404.
        public var metrics = true

        public init() {}
    }

    /// The OpenAPI description of the API, as served at `/openapi.yaml`. It is compiled into
    /// the binary, so that the binary alone (as in Dray's image) serves it.
    public static let openAPI = ByteBuffer(bytes: PackageResources.openapi_yaml)

    /// The JSON Schema of a job description, as served at `/schema/job.json`, for editors.
    public static let jobSchema = ByteBuffer(bytes: PackageResources.job_json)

    /// The responder for the API: the seed's routes, also under any `/v{version}` prefix.
    public static func responder(
        service: JobService, configuration: Configuration, logger: Logger
    ) -> some HTTPResponder<DrayRequestContext> {
        let router = Router(context: DrayRequestContext.self)
        if configuration.metrics { router.add(middleware: RequestMetricsMiddleware(metrics: service.metrics)) }
        router.add(middleware: ErrorMiddleware(logger: logger))
        // DNS rebinding reaches only a server on loopback: one beyond it asks for a token.
        let loopback = isLoopback(configuration.host)
        router.add(
            middleware: BrowserGuardMiddleware(
                allowedHosts: loopback ? Set(configuration.publicNames.map { $0.lowercased() }) : nil))
        let store = service.store
        router.add(
            middleware: TokenMiddleware(
                token: configuration.token, lookup: { try await store.token(hash: $0) },
                audit: { await service.record($0) }))
        JobRoutes(
            service: service, maxBodyBytes: configuration.maxBodyBytes, openAPI: openAPI,
            metrics: configuration.metrics
        ).add(to: router)
        return VersionPrefixResponder(wrapped: router.buildResponder())
    }

    /// True for a host name or address only this machine can reach: `localhost`, `::1` (with
    /// or without brackets) and 127.0.0.0/8, the address read as ``HostAddress`` reads it, so
    /// that a DNS name such as `127.a.example` is not taken for one.
    public static func isLoopback(_ host: String) -> Bool {
        HostAddress(host).isLoopback
    }

    /// HTTP/1.1, with every connection watched by a ``ConnectionGuard``, over TLS when configured.
    static func server(_ configuration: Configuration) throws -> HTTPServerBuilder {
        let header = TimeAmount.nanoseconds(Int64(configuration.headerTimeout / .nanoseconds(1)))
        let body = TimeAmount.nanoseconds(Int64(configuration.bodyTimeout / .nanoseconds(1)))
        // A guard of its own for each connection.
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [ConnectionGuard(headerTimeout: header, bodyTimeout: body)])
        )
        guard let tls = configuration.tls else { return http1 }
        return try .tls(http1, tlsConfiguration: tls)
    }

    /// The application: the store, the job service and the HTTP server, started in that order
    /// (the server listens once the service has recovered) and shut down gracefully in the
    /// reverse one on SIGTERM or SIGINT. `services` start first and stop last (a trace
    /// exporter, which then still sees the last spans).
    public static func application(
        service: JobService, configuration: Configuration, logger: Logger, services: [any Service] = []
    ) throws -> some ApplicationProtocol {
        var application = Application(
            responder: responder(service: service, configuration: configuration, logger: logger),
            server: try server(configuration),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dray"),
            services: services + [service.store, service],
            logger: logger)
        application.beforeServerStarts { try await service.started() }
        return application
    }
}
