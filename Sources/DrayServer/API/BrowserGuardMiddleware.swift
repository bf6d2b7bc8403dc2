import Foundation
import Hummingbird

/// Refuses what only a browser, led by another site, would send: curl and the seed's clients
/// send no `Origin` and no `Sec-Fetch-Site`, and name the server in `Host`.
///
/// - A request whose `Origin` is not the server's own (its scheme's host and port, as `Host`
///   names them), or that says `Sec-Fetch-Site: cross-site`, is a 403: a page on another site
///   cannot post a job through its visitor's browser.
/// - On loopback, a `Host` that does not name loopback or the configured public name is a 403:
///   a name that another site's DNS points at 127.0.0.1 (DNS rebinding) does not reach the API.
struct BrowserGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The host names `Host` may carry, lower-case, without a port; nil allows any.
    let allowedHosts: Set<String>?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let host = request.head.authority
        if let allowedHosts, let host, !Self.isLoopbackName(Self.hostName(host)),
            !allowedHosts.contains(Self.hostName(host))
        {
            throw APIError(
                .forbidden,
                "this server answers only to its own names, not \"\(host)\": give --public-name to add one")
        }
        if request.headers[.init("Sec-Fetch-Site")!]?.lowercased() == "cross-site" {
            throw APIError(.forbidden, "a request from another site is refused (Sec-Fetch-Site: cross-site)")
        }
        if let origin = request.headers[.origin] {
            guard let host, Self.origin(origin, isSameAs: host) else {
                throw APIError(.forbidden, "a request from another origin is refused: Origin \"\(origin)\"")
            }
        }
        return try await next(request, context)
    }

    /// `Host`'s name without its port, lower-case: `[::1]:3000` → `::1`.
    static func hostName(_ authority: String) -> String {
        let lower = authority.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") {
            return String(lower[lower.index(after: lower.startIndex)..<close])
        }
        if let colon = lower.lastIndex(of: ":") { return String(lower[..<colon]) }
        return lower
    }

    static func isLoopbackName(_ name: String) -> Bool {
        name == "localhost" || name == "::1" || (name.hasPrefix("127.") && name.split(separator: ".").count == 4)
    }

    /// True when `origin` (`http://host:port`) names the same host and port as `authority`.
    static func origin(_ origin: String, isSameAs authority: String) -> Bool {
        guard let url = URL(string: origin), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let originHost = url.host?.lowercased()
        else { return false }
        let defaultPort = scheme == "https" ? 443 : 80
        let originPort = url.port ?? defaultPort
        let name = hostName(authority)
        let portText =
            authority.hasPrefix("[")
            ? authority.split(separator: "]").last.map { $0.dropFirst() }
            : authority.split(separator: ":").dropFirst().last
        let port = portText.flatMap { Int($0) } ?? defaultPort
        let bareOriginHost = originHost.hasPrefix("[") ? String(originHost.dropFirst().dropLast()) : originHost
        return bareOriginHost == name && originPort == port
    }
}
