import DrayAPI
import Hummingbird

/// Asks every request but the health probes for the server's token: without it, 401 with
/// `WWW-Authenticate: Bearer` and a JSON message. It runs before routing, so an unknown
/// route answers 401 too and tells a stranger nothing about the API.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken

    /// The probes that orchestrators call without credentials, and the dashboard's files, which
    /// hold no data: the page asks for the token and sends it with each call to the API.
    static var openPaths: Set<String> { tokenFreePaths }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let authorization = request.headers[.authorization] else {
            throw Self.unauthorized("this server needs a token: send Authorization: Bearer <token>")
        }
        guard token.isPresented(in: authorization) else {
            throw Self.unauthorized("the token is wrong: send Authorization: Bearer <token> with the server's token")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, message)
        error.headers[.wwwAuthenticate] = #"Bearer realm="dray""#
        return error
    }
}

private let tokenFreePaths = Set(["/healthz", "/readyz"]).union(DashboardRoutes.files.keys)
