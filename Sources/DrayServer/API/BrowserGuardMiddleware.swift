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
        if let allowedHosts, let host, !DrayServer.isLoopback(Self.hostName(host)),
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

    /// An authority's host, lower-case and without brackets, and its port when it names one:
    /// `[::1]:3000` → (`::1`, 3000).
    static func parse(_ authority: String) -> (host: String, port: Int?) {
        let lower = authority.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") {
            let rest = lower[lower.index(after: close)...]
            return (
                String(lower[lower.index(after: lower.startIndex)..<close]),
                rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil
            )
        }
        guard let colon = lower.lastIndex(of: ":") else { return (lower, nil) }
        return (String(lower[..<colon]), Int(lower[lower.index(after: colon)...]))
    }

    static func hostName(_ authority: String) -> String { parse(authority).host }

    /// True when `origin` (`scheme://host[:port]`) names the same host and port as `authority`
    /// (a missing port being the scheme's).
    static func origin(_ origin: String, isSameAs authority: String) -> Bool {
        let parts = origin.lowercased().components(separatedBy: "://")
        guard parts.count == 2, let scheme = parts.first, scheme == "http" || scheme == "https" else { return false }
        let defaultPort = scheme == "https" ? 443 : 80
        let theirs = parse(parts[1])
        let ours = parse(authority)
        return theirs.host == ours.host && (theirs.port ?? defaultPort) == (ours.port ?? defaultPort)
    }
}
