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

    /// Adds bytes; waits while the pipe is full and its reader still reads.
    public func write(_ buffer: ByteBuffer) async {
        guard buffer.readableBytes > 0 else { return }
        let (reader, full) = state.withLock { state -> (CheckedContinuation<ByteBuffer?, Never>?, Bool) in
            if state.readerGone || state.finished { return (nil, false) }
            state.written += Int64(buffer.readableBytes)
            if let reader = state.reader {
                state.reader = nil
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
            defer { state.reader = nil }
            return state.chunks.count > state.head ? nil : state.reader
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
                    return (nil, nil)
                }
                writer?.resume()
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let reader = state.withLock { state in
                state.readerCanceled = true
                defer { state.reader = nil }
                return state.reader
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
            defer {
                state.writer = nil
                state.reader = nil
            }
            return (state.writer, state.reader)
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
