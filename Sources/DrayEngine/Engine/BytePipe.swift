import NIOCore
import Synchronization

/// A bounded pipe between two steps of a streaming job: one writer, one reader. A write waits
/// while `capacity` bytes are buffered, so a slow reader slows the writer, and through it the
/// engine and the container upstream: backpressure end to end, in bounded memory.
///
/// When the reader stops (its container closed stdin), later writes are dropped, as bytes
/// written to a shell pipe nobody reads are; the writer is never left waiting.
public final class BytePipe: Sendable, AsyncSequence {
    public typealias Element = ByteBuffer

    public let capacity: Int
    private let state = Mutex(State())

    private struct State {
        var chunks: [ByteBuffer] = []
        var head = 0
        var buffered = 0
        var finished = false
        var readerGone = false
        var reader: CheckedContinuation<ByteBuffer?, Never>?
        var writer: CheckedContinuation<Void, Never>?
        var readerCanceled = false
        var writerCanceled = false
        /// Every byte handed to the reader or buffered for it.
        var written: Int64 = 0
        /// How long writes waited for the reader to make room, in all.
        var blocked: Duration = .zero
        /// How long the reader waited for bytes, in all, and since when it waits now.
        var waited: Duration = .zero
        var waitingSince: ContinuousClock.Instant?

        /// The reader stops waiting: its wait is counted.
        mutating func takeReader() -> CheckedContinuation<ByteBuffer?, Never>? {
            guard let reader else { return nil }
            self.reader = nil
            if let since = waitingSince { waited += .now - since }
            waitingSince = nil
            return reader
        }

        mutating func popFirst() -> ByteBuffer? {
            guard head < chunks.count else { return nil }
            let chunk = chunks[head]
            head += 1
            if head > 64 && head * 2 > chunks.count {
                chunks.removeFirst(head)
                head = 0
            }
            buffered -= chunk.readableBytes
            return chunk
        }
    }

    public init(capacity: Int = 1 << 20) {
        self.capacity = capacity
    }

    /// How many bytes were written for the reader (not those written after it went away).
    public var bytesWritten: Int64 { state.withLock { $0.written } }

    /// What went through the pipe so far: the edge's figures.
    public var flow: EdgeFlow {
        state.withLock { state in
            var waited = state.waited
            if let since = state.waitingSince { waited += .now - since }
            return EdgeFlow(bytes: state.written, blocked: state.blocked, waited: waited)
        }
    }

    /// Adds bytes; waits while the pipe is full and its reader still reads.
    public func write(_ buffer: ByteBuffer) async {
        guard buffer.readableBytes > 0 else { return }
        let (reader, full) = state.withLock { state -> (CheckedContinuation<ByteBuffer?, Never>?, Bool) in
            if state.readerGone || state.finished { return (nil, false) }
            state.written += Int64(buffer.readableBytes)
            if let reader = state.takeReader() {
                return (reader, false)
            }
            state.chunks.append(buffer)
            state.buffered += buffer.readableBytes
            return (nil, state.buffered >= capacity)
        }
        if let reader {
            reader.resume(returning: buffer)
            return
        }
        guard full else { return }
        let start = ContinuousClock.now
        defer { state.withLock { $0.blocked += .now - start } }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let wait = state.withLock { state in
                    guard state.buffered >= capacity, !state.readerGone, !state.writerCanceled else { return false }
                    state.writer = continuation
                    return true
                }
                if !wait { continuation.resume() }
            }
        } onCancel: {
            let writer = state.withLock { state in
                state.writerCanceled = true
                defer { state.writer = nil }
                return state.writer
            }
            writer?.resume()
        }
    }

    /// No more bytes will come: the reader gets what is buffered, then the end.
    public func finish() {
        let reader = state.withLock { state in
            state.finished = true
            return state.chunks.count > state.head ? nil : state.takeReader()
        }
        reader?.resume(returning: nil)
    }

    /// The next bytes, or nil at the end.
    public func read() async -> ByteBuffer? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let (answer, writer) = state.withLock {
                    state -> (ByteBuffer??, CheckedContinuation<Void, Never>?) in
                    if let chunk = state.popFirst() {
                        var writer: CheckedContinuation<Void, Never>?
                        if state.buffered < capacity {
                            writer = state.writer
                            state.writer = nil
                        }
                        return (.some(chunk), writer)
                    }
                    if state.finished || state.readerCanceled || state.readerGone { return (.some(nil), nil) }
                    state.reader = continuation
                    // Waiting for the first bytes is the producer starting, not being slow.
                    if state.written > 0 { state.waitingSince = .now }
                    return (nil, nil)
                }
                writer?.resume()
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let reader = state.withLock { state in
                state.readerCanceled = true
                return state.takeReader()
            }
            reader?.resume(returning: nil)
        }
    }

    /// The reader stops: buffered and later bytes are dropped, and a waiting writer goes on.
    public func closeReader() {
        let (writer, reader) = state.withLock { state in
            state.readerGone = true
            state.chunks = []
            state.head = 0
            state.buffered = 0
            defer { state.writer = nil }
            return (state.writer, state.takeReader())
        }
        writer?.resume()
        reader?.resume(returning: nil)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pipe: BytePipe
        public mutating func next() async -> ByteBuffer? { await pipe.read() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: self) }
}

/// What went through one edge of a streaming job: its bytes, how long its producer was blocked
/// because the consumer was slow, and how long the consumer waited for input.
public struct EdgeFlow: Sendable, Equatable {
    public var bytes: Int64
    public var blocked: Duration
    public var waited: Duration

    public init(bytes: Int64 = 0, blocked: Duration = .zero, waited: Duration = .zero) {
        self.bytes = bytes
        self.blocked = blocked
        self.waited = waited
    }
}
