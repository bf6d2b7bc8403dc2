import Dispatch
import Foundation

/// Waiting for a process signal in async code.
enum Signals {
    /// Returns when one of `signals` arrives, or when the task is canceled. While waiting,
    /// the signals do not end the process; afterwards a second one does, as usual.
    static func wait(for signals: [Int32]) async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        await withTaskCancellationHandler {
            for await _ in stream { break }
        } onCancel: {
            continuation.finish()
        }
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}
