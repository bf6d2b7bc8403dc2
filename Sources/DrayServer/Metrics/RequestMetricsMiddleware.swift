import Hummingbird

/// Times every API request into ``DrayMetrics``, labelled by the route's pattern (so that job ids
/// do not make a label each; a path that is no route is `other`), method and final status.
/// It goes first, so that it sees the status the error middleware gave.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: DrayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        let route = Routes.pattern(forPath: request.uri.path) ?? "other"
        do {
            let response = try await next(request, context)
            metrics.request(
                method: request.method.rawValue, route: route, status: Int(response.status.code),
                duration: .now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: request.method.rawValue, route: route, status: Int(status), duration: .now - start)
            throw error
        }
    }
}
