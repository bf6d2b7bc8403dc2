/// Told of everything a running job does. The server's observer writes to a ``JobStore``;
/// `dray run`'s prints to the terminal.
public protocol JobObserver: Sendable {
    /// The job's state changed: a step started or ended, or the job ended.
    func jobDidChange(_ state: JobState) async
    /// Steps wrote these lines, in the order they arrived.
    func jobDidLog(_ lines: [LogLine]) async
    /// Progress while a step's image is pulled.
    func jobDidPull(step: Int, progress: String) async
}
