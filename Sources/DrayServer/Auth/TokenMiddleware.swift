import DrayAPI
import DrayEngine
import Foundation
import Hummingbird
import NIOCore

/// A request's context, with the client's address for the audit log.
public struct DrayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's address as the audit log keeps it: an IP address, or the socket's path.
    var clientAddress: String? {
        remoteAddress.flatMap { $0.ipAddress ?? $0.pathname }
    }
}

/// Finds out who makes each request but the health probes and the dashboard's files, and runs
/// it as that ``Caller``: the server's own token (or anyone, on a server without one, which
/// answers on loopback only), or a project's token, looked up by its hash in the store on
/// every request, so that a revoked token is refused at once on every node. A missing or
/// unknown token is a 401 with `WWW-Authenticate: Bearer` and a JSON message. It runs before
/// routing, so an unknown route answers 401 too and tells a stranger nothing about the API.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = DrayRequestContext

    /// The server's own token; nil on a server without one.
    let token: BearerToken?
    /// The project token whose text hashes to a hash, live or not.
    let lookup: @Sendable (String) async throws -> AccessToken?
    /// Records a refused attempt.
    let audit: @Sendable (AuditEntry) async -> Void

    /// The probes that orchestrators call without credentials, and the dashboard's files, which
    /// hold no data: the page asks for the token and sends it with each call to the API.
    static var openPaths: Set<String> { tokenFreePaths }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let authorization = request.headers[.authorization] else {
            guard token != nil else { return try await next(request, context) }
            throw Self.unauthorized("this server needs a token: send Authorization: Bearer <token>")
        }
        if let token, token.isPresented(in: authorization) { return try await next(request, context) }
        let presented = Self.bearer(in: authorization)
        if let presented, presented.hasPrefix(AccessToken.prefix),
            let found = try await lookup(AccessToken.hash(of: presented))
        {
            guard found.isLive(at: Date()) else {
                await audit(
                    AuditEntry(
                        action: "request", outcome: "refused", project: found.project,
                        target: "\(request.method) \(request.uri.path)",
                        token: .init(id: found.id, name: found.name), address: context.clientAddress,
                        detail: found.revokedAt == nil ? "token expired" : "token revoked"))
                throw Self.unauthorized(
                    found.revokedAt == nil
                        ? "the token \(found.name) has expired: ask an admin of project \(found.project) for a new one"
                        : "the token \(found.name) was revoked: ask an admin of project \(found.project) for a new one")
            }
            return try await Caller.$current.withValue(Caller(token: found)) { try await next(request, context) }
        }
        // A server without a token of its own answers anyone (on loopback), as before projects:
        // only a token that says it is a project's must be one.
        if token == nil, presented?.hasPrefix(AccessToken.prefix) != true { return try await next(request, context) }
        throw Self.unauthorized(
            "the token is wrong: send Authorization: Bearer <token> with the server's token or a project's")
    }

    /// The token of an `Authorization: Bearer` header.
    static func bearer(in authorization: String) -> String? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, message)
        error.headers[.wwwAuthenticate] = #"Bearer realm="dray""#
        return error
    }
}

private let tokenFreePaths = Set(["/healthz", "/readyz"]).union(DashboardRoutes.files.keys)
