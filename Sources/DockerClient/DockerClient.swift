import AsyncHTTPClient
import Foundation
import Instrumentation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Tracing

/// A client of the Docker Engine API, over a unix socket or TCP. It never runs the `docker` CLI.
///
/// Create one with ``connect(to:logger:)``, which reads the API version the engine speaks,
/// and call ``shutdown()`` when done. Calls are in `DockerClient+Endpoints.swift`, one per route.
public final class DockerClient: Sendable {
    public let endpoint: DockerEndpoint
    /// The API version every call uses, as the engine's `/version` gave it.
    public let apiVersion: String
    /// The engine is Podman's Docker-compatible service.
    public let isPodman: Bool
    let http: HTTPClient
    public let logger: Logger
    /// Set when the endpoint is ``DockerEndpoint/tls(host:port:certificates:)``.
    let tls: DockerTLS?
    /// Told of every call to the engine: its route's pattern (`POST /containers/{id}/start`) and
    /// how long the engine took to answer it (its head, for a streamed answer).
    let observe: CallObserver?

    public typealias CallObserver = @Sendable (_ call: String, _ duration: Duration) -> Void

    /// Connects to the engine at `endpoint` and reads the API version it speaks.
    public static func connect(
        to endpoint: DockerEndpoint, logger: Logger = Logger(label: "dray.docker"), observe: CallObserver? = nil
    ) async throws -> DockerClient {
        var tls: DockerTLS?
        if case .tls(let host, _, let certificates) = endpoint {
            tls = try DockerTLS(host: host, certificates: certificates)
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls?.configuration,
            timeout: .init(connect: .seconds(10)),
            // Every running step holds a connection for its whole life (POST /wait), so the
            // pool must hold more than the jobs that run at once; the default 8 starved
            // 100 concurrent jobs.
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        )
        // An engine that refuses the connection or the TLS handshake, or has gone away, is
        // told at once (and /readyz answers at once), not after 10 s of retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration,
            backgroundActivityLogger: logger)
        do {
            let version = try await DockerClient(
                endpoint: endpoint, apiVersion: "", isPodman: false, http: http, logger: logger, tls: tls,
                observe: observe
            ).version()
            return DockerClient(
                endpoint: endpoint, apiVersion: version.apiVersion, isPodman: version.isPodman, http: http,
                logger: logger, tls: tls, observe: observe)
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private init(
        endpoint: DockerEndpoint, apiVersion: String, isPodman: Bool, http: HTTPClient, logger: Logger,
        tls: DockerTLS?, observe: CallObserver?
    ) {
        self.observe = observe
        self.endpoint = endpoint
        self.apiVersion = apiVersion
        self.isPodman = isPodman
        self.http = http
        self.logger = logger
        self.tls = tls
    }

    /// Closes the client's connections.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: - Requests

    /// The path of `route` under the negotiated API version: `/v1.41/containers/create`.
    func versioned(_ route: String) -> String {
        apiVersion.isEmpty ? route : "/v\(apiVersion)\(route)"
    }

    /// The URL of `path` with `query`, for AsyncHTTPClient.
    func url(_ path: String, query: [(String, String)] = []) -> String {
        var uri = path
        if !query.isEmpty {
            uri += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        switch endpoint {
        case .unix(let socketPath):
            let host = socketPath.addingPercentEncoding(withAllowedCharacters: .urlHostAllowed) ?? socketPath
            return "http+unix://\(host)\(uri)"
        case .tcp(let host, let port):
            return "http://\(DockerEndpoint.authority(host: host, port: port))\(uri)"
        case .tls(let host, let port, _):
            return "https://\(DockerEndpoint.authority(host: host, port: port))\(uri)"
        }
    }

    private static let queryAllowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? text
    }

    /// Sends a request and returns the response once its head arrived; a status of 400 or
    /// more throws ``DockerClientError/http(status:message:)`` with the engine's message.
    func send(
        _ method: HTTPMethod,
        _ route: String,
        query: [(String, String)] = [],
        body: HTTPClientRequest.Body? = nil,
        contentType: String? = nil,
        headers extra: [(String, String)] = [],
        versioned isVersioned: Bool = true
    ) async throws(DockerClientError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url(isVersioned ? versioned(route) : route, query: query))
        request.method = method
        request.headers.add(name: "Host", value: "docker")
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = body
        let response: HTTPClientResponse
        let start = ContinuousClock.now
        let call = "\(method.rawValue) \(Self.pattern(route))"
        // A span per call (until its answer's head), a child of what the caller traces (a job's
        // step); a call outside any (the node's sweeps) would be a trace of its own, and has none.
        let span = InstrumentationContext.current.map { startSpan("docker \(call)", context: $0, ofKind: .client) }
        defer {
            observe?(call, .now - start)
            span?.end()
        }
        span?.attributes["http.request.method"] = method.rawValue
        span?.attributes["url.path"] = route
        do {
            response = try await http.execute(request, timeout: .hours(24 * 365), logger: logger)
        } catch {
            let failure = transportError(error)
            span?.recordError(failure)
            span?.setStatus(SpanStatus(code: .error))
            throw failure
        }
        span?.attributes["http.response.status_code"] = Int(response.status.code)
        if response.status.code >= 400 { span?.setStatus(SpanStatus(code: .error)) }
        guard response.status.code < 400 else {
            let data = try? await response.body.collect(upTo: 1 << 20)
            let message =
                data.flatMap { try? JSONDecoder().decode(EngineErrorBody.self, from: $0).message }
                ?? data.map { String(buffer: $0).trimmingCharacters(in: .whitespacesAndNewlines) }
                ?? ""
            throw .http(
                status: Int(response.status.code),
                message: message.isEmpty ? "the Docker engine answered \(response.status)" : message)
        }
        return response
    }

    /// A route with its ids and image names taken out, so that calls can be counted by kind:
    /// `/containers/3f2a…/start` → `/containers/{id}/start`, `/images/a/b:1/json` → `/images/{name}/json`.
    static func pattern(_ route: String) -> String {
        let parts = route.split(separator: "/", omittingEmptySubsequences: true)
        guard let first = parts.first else { return route }
        switch first {
        case "containers" where parts.count >= 2 && !["create", "json"].contains(parts[1]):
            return (["/containers", "{id}"] + parts.dropFirst(2).prefix(1).map(String.init)).joined(separator: "/")
        case "images" where parts.count >= 2 && parts[1] != "create":
            let action = ["json", "tag", "push", "history"].contains(parts.last!) ? "/" + parts.last! : ""
            return "/images/{name}" + action
        case "containers", "images", "_ping", "version", "info", "auth", "events":
            return "/" + parts.prefix(2).joined(separator: "/")
        default:
            return "/" + first + (parts.count > 1 ? "/…" : "")
        }
    }

    /// Sends a request and decodes its JSON answer.
    func json<Answer: Decodable>(
        _ type: Answer.Type,
        _ method: HTTPMethod,
        _ route: String,
        query: [(String, String)] = [],
        body: (some Encodable)? = nil as String?,
        versioned: Bool = true
    ) async throws(DockerClientError) -> Answer {
        let data = try await collect(method, route, query: query, body: body, versioned: versioned)
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw .decoding("cannot read the engine's answer to \(method) \(route): \(error)")
        }
    }

    /// Sends a request, with an optional JSON body, and collects the whole answer.
    @discardableResult
    func collect(
        _ method: HTTPMethod,
        _ route: String,
        query: [(String, String)] = [],
        body: (some Encodable)? = nil as String?,
        versioned: Bool = true
    ) async throws(DockerClientError) -> ByteBuffer {
        var requestBody: HTTPClientRequest.Body?
        if let body {
            do {
                requestBody = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
            } catch {
                throw .decoding("cannot encode the request to \(route): \(error)")
            }
        }
        let response = try await send(
            method, route, query: query, body: requestBody,
            contentType: requestBody == nil ? nil : "application/json", versioned: versioned)
        do {
            return try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw transportError(error)
        }
    }

    func transportError(_ error: any Error) -> DockerClientError {
        if let error = error as? DockerClientError { return error }
        if let message = DockerTLS.explain(error, endpoint: endpoint) { return .transport(message, cause: error) }
        // NIO's system-call errors read `read(descriptor:pointer:size:): Connection reset by
        // peer) (errno: 104)`; the system's own words are enough.
        let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
        return .transport("cannot reach the Docker engine at \(endpoint): \(reason)", cause: error)
    }
}
