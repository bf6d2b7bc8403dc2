/// The one error type of the engine: a code to act on, a message for a person, and the cause.
public struct DrayError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The job description is wrong: the client's mistake.
        case invalidJob
        /// A step's image is missing and could not be pulled.
        case imageNotFound
        /// A step's output file could not be read back.
        case outputMissing
        /// The container runtime failed.
        case runtime
        /// Reading or writing spool files or the store failed.
        case storage
        /// No such job.
        case notFound
        /// The job is not in a state that allows the request (cancel a finished job, resume a running one).
        case conflict
        /// What was asked for was kept for a while and is no longer (an output past `--keep-outputs`).
        case gone
        /// Another node holds a store that takes one node at a time; its lease runs out unless renewed.
        case leaseHeld
        /// An idempotency key came again with another request: the client's mistake.
        case keyReused
        /// The caller's token may not do this (its scope is too small): the client's mistake.
        case forbidden
        /// A project's quota is reached: the client may try again later.
        case quotaExceeded
    }

    public var code: Code
    public var message: String
    /// Every problem found, when validation found more than one.
    public var problems: [String]
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, problems: [String]? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.problems = problems ?? [message]
        self.cause = cause
    }

    public var description: String { message }
}

extension DrayError {
    /// There is no job with `id`: what every store and the API say.
    public static func noJob(_ id: String) -> DrayError {
        DrayError(.notFound, "no job \(id)")
    }
}

extension DrayError {
    /// Runs a call to a store, turning its failures into `storage` errors: "`store` failed: why".
    /// A ``DrayError`` it throws (such as `notFound`) passes through unchanged.
    public static func storage<T>(_ store: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DrayError {
            throw error
        } catch {
            throw DrayError(.storage, "\(store()) failed: \(error)", cause: error)
        }
    }
}
