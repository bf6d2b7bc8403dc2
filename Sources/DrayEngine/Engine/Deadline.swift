/// Runs `body` and returns what it returns, or throws `late()` once `limit` has passed,
/// whether or not `body` heeds cancellation: a call into a client that went deaf (a database
/// restarted under a query) is left behind, canceled, rather than waited for. A task group
/// cannot do this: it waits for every child, the deaf one too.
public func withDeadline<T: Sendable>(
    _ limit: Duration,
    late: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Once<Result<T, any Error>>()
    let work = Task {
        do {
            outcome.end(.success(try await body()))
        } catch {
            outcome.end(.failure(error))
        }
    }
    let timer = Task {
        try await Task.sleep(for: limit)
        outcome.end(.failure(late()))
    }
    let result = await withTaskCancellationHandler {
        await outcome.value()
    } onCancel: {
        outcome.end(.failure(CancellationError()))
    }
    timer.cancel()
    work.cancel()
    return try result.get()
}
