import DrayAPI
import DrayEngine
import Hummingbird
import Logging

/// Turns every error into a JSON answer: the client's mistakes into 4xx with a message that
/// says what is wrong, an unknown route into 404, a known route with the wrong method into 405,
/// and only our own failures into 5xx.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as DrayError {
            if ![.invalidJob, .notFound, .conflict, .gone, .keyReused, .forbidden, .quotaExceeded].contains(error.code)
            {
                logger.error("\(request.method) \(request.uri.path): \(error.message)")
            }
            return try APIError.from(error).response(from: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            return try Self.routeMissing(request).response(from: request, context: context)
        } catch let error as HTTPError {
            return try APIError(error.status, error.body ?? error.status.reasonPhrase).response(
                from: request, context: context)
        } catch {
            logger.error("\(request.method) \(request.uri.path): \(error)")
            return try APIError(.internalServerError, "internal error: \(error)").response(
                from: request, context: context)
        }
    }

    /// 405 with `Allow` when the path is one of ours, else 404.
    static func routeMissing(_ request: Request) -> APIError {
        let path = request.uri.path
        guard let allowed = Routes.methods(forPath: path) else {
            return APIError(.notFound, "no such route: \(request.method) \(path)")
        }
        var error = APIError(
            .methodNotAllowed, "\(request.method) is not allowed on \(path); use \(allowed.joined(separator: " or "))")
        error.headers[.allow] = allowed.joined(separator: ", ")
        return error
    }
}
