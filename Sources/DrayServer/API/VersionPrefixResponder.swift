import Hummingbird

/// Serves every route under any `/v{version}` prefix too (`/v1.2/jobs`), as the original
/// routes `/v[0-9.]+/...`, by stripping the prefix before routing; and `HEAD` wherever `GET`
/// is served, as `GET`'s headers without its body.
struct VersionPrefixResponder<Wrapped: HTTPResponder>: HTTPResponder {
    typealias Context = Wrapped.Context
    let wrapped: Wrapped

    func respond(to request: Request, context: Context) async throws -> Response {
        var head = request.head
        if let path = head.path, let stripped = VersionPrefix.strip(path) { head.path = stripped }
        let isHead = head.method == .head
        if isHead { head.method = .get }
        let response = try await wrapped.respond(to: Request(head: head, body: request.body), context: context)
        guard isHead else { return response }
        var headers = response.headers
        if headers[.contentLength] == nil, let length = response.body.contentLength {
            headers[.contentLength] = String(length)
        }
        return Response(status: response.status, headers: headers, body: ResponseBody())
    }
}

/// The original's `/v[0-9.]+` route prefix.
enum VersionPrefix {
    /// `path` without its `/v1.2` prefix, or nil when it has none.
    static func strip(_ path: String) -> String? {
        guard path.hasPrefix("/v") else { return nil }
        let afterV = path.dropFirst(2)
        let version = afterV.prefix { $0.isNumber || $0 == "." }
        guard !version.isEmpty, version.first!.isNumber else { return nil }
        let rest = afterV.dropFirst(version.count)
        guard rest.isEmpty || rest.hasPrefix("/") || rest.hasPrefix("?") else { return nil }
        return rest.hasPrefix("/") ? String(rest) : "/" + rest
    }
}
