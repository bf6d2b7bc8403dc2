import DrayEngine
import Foundation
import Hummingbird

/// An error answer: a status and `{"error": "message"}`, with `problems` (each naming its
/// field) when a job description has more than one.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var problems: [String]?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, problems: [String]? = nil) {
        self.status = status
        self.message = message
        self.problems = problems
    }

    private struct Body: Encodable {
        var error: String
        var problems: [String]?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(Body(error: message, problems: problems), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The answer for an engine error: the client's mistakes are 4xx, our failures 5xx.
    static func from(_ error: DrayError) -> APIError {
        switch error.code {
        case .invalidJob:
            APIError(.badRequest, error.message, problems: error.problems.count > 1 ? error.problems : nil)
        case .notFound: APIError(.notFound, error.message)
        case .conflict: APIError(.conflict, error.message)
        case .gone: APIError(.gone, error.message)
        case .keyReused: APIError(.unprocessableContent, error.message)
        case .forbidden: APIError(.forbidden, error.message)
        case .quotaExceeded:
            {
                var answer = APIError(.tooManyRequests, error.message)
                answer.headers[.retryAfter] = "5"
                return answer
            }()
        case .storage: APIError(.serviceUnavailable, error.message)
        default: APIError(.internalServerError, error.message)
        }
    }
}
