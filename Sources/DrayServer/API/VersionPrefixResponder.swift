import Hummingbird

/// Serves every route under any `/v{version}` prefix too (`/v1.2/jobs`), as the original
/// routes `/v[0-9.]+/...`, by stripping the prefix before routing.
struct VersionPrefixResponder<Wrapped: HTTPResponder>: HTTPResponder {
    typealias Context = Wrapped.Context
    let wrapped: Wrapped

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let path = request.head.path, let stripped = VersionPrefix.strip(path) else {
            return try await wrapped.respond(to: request, context: context)
        }
        var head = request.head
        head.path = stripped
        return try await wrapped.respond(to: Request(head: head, body: request.body), context: context)
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
