import NIOCore
import Synchronization

/// The bytes a running step passes on, offered to whoever taps its edge
/// (`GET /jobs/{id}/steps/{step}/tap`) as they flow. A tap never slows the pipe: each reader
/// has a bounded buffer, and what does not fit is skipped and counted, never waited for. With
/// no reader, an offer is one lock and a check.
public final class EdgeTap: Sendable {
    /// What a tap's reader gets, in order.
    public enum Event: Sendable {
        case bytes(ByteBuffer)
        /// This many bytes passed while the reader's buffer was full: they are not shown.
        case skipped(Int64)
        /// Nothing passed for a while (``Subscription/heartbeat()``).
        case idle
    }

    private let state = Mutex(State())

    private struct State {
        /// Every byte offered so far: where the next one is in the step's output.
        var offered: Int64 = 0
        /// The newlines among them.
        var lines: Int64 = 0
        var readers: [Reader] = []
        var nextReader = 0
        var ended = false
        /// A reader that replays the spool first asked for the spool to be written out.
        var flushWanted = false
    }

    private struct Reader {
        let key: Int
        var continuation: AsyncStream<Event>.Continuation
        /// Bytes given and not yet taken, and the bound on them.
        var outstanding = 0
        let limit: Int
        /// Bytes skipped since the reader last got some.
        var skipped: Int64 = 0
    }

    public init() {}

    /// The bytes offered so far.
    public var offered: Int64 { state.withLock { $0.offered } }

    /// The newlines among the bytes offered so far.
    public var lines: Int64 { state.withLock { $0.lines } }

    /// Gives `bytes` to every reader with room for them, and counts them skipped for the
    /// others. True when a reader asked for the spool to be written out (``Subscription/offset``).
    @discardableResult
    public func offer(_ bytes: ByteBuffer) -> Bool {
        let count = bytes.readableBytes
        let lines = Int64(bytes.newlineCount)
        var given: [(AsyncStream<Event>.Continuation, skipped: Int64)] = []
        let flush = state.withLock { state in
            state.offered += Int64(count)
            state.lines += lines
            guard !state.readers.isEmpty else { return false }
            for index in state.readers.indices {
                if state.readers[index].outstanding + count > state.readers[index].limit {
                    state.readers[index].skipped += Int64(count)
                    continue
                }
                given.append((state.readers[index].continuation, state.readers[index].skipped))
                state.readers[index].skipped = 0
                state.readers[index].outstanding += count
            }
            defer { state.flushWanted = false }
            return state.flushWanted
        }
        for (continuation, skipped) in given {
            if skipped > 0 { continuation.yield(.skipped(skipped)) }
            continuation.yield(.bytes(bytes))
        }
        return flush
    }

    /// The step has ended: every reader gets what was skipped last, then the end.
    public func end() {
        let readers = state.withLock { state in
            state.ended = true
            defer { state.readers = [] }
            return state.readers
        }
        // Outside the lock: a finished stream calls its termination handler, which takes it.
        for reader in readers {
            if reader.skipped > 0 { reader.continuation.yield(.skipped(reader.skipped)) }
            reader.continuation.finish()
        }
    }

    /// A reader of the tap: the events from ``offset`` on, until the step ends or the reader
    /// goes away.
    public struct Subscription: Sendable, AsyncSequence {
        public typealias Element = Event
        /// Where in the step's output the first event starts: the bytes before it were passed
        /// on before the reader came.
        public let offset: Int64
        let stream: AsyncStream<Event>
        let continuation: AsyncStream<Event>.Continuation
        let taken: @Sendable (Int) -> Void

        /// Gives the reader an ``Event/idle``, so that one waiting for bytes can see whether it
        /// is still wanted.
        public func heartbeat() {
            continuation.yield(.idle)
        }

        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncStream<Event>.AsyncIterator
            let taken: @Sendable (Int) -> Void

            public mutating func next() async -> Event? {
                let event = await base.next()
                if case .bytes(let bytes) = event { taken(bytes.readableBytes) }
                return event
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: stream.makeAsyncIterator(), taken: taken)
        }
    }

    /// A new reader, with room for `limit` bytes not yet taken. `flush` asks for the spool to
    /// hold every byte before ``Subscription/offset`` once the next bytes pass, so that the
    /// reader can replay them from there.
    public func subscribe(limit: Int = 1 << 20, flush: Bool = false) -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        let (key, offset) = state.withLock { state -> (Int?, Int64) in
            guard !state.ended else { return (nil, state.offered) }
            let key = state.nextReader
            state.nextReader += 1
            state.readers.append(Reader(key: key, continuation: continuation, limit: limit))
            if flush { state.flushWanted = true }
            return (key, state.offered)
        }
        guard let key else {
            continuation.finish()
            return Subscription(offset: offset, stream: stream, continuation: continuation, taken: { _ in })
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { $0.readers.removeAll { $0.key == key } }
        }
        return Subscription(offset: offset, stream: stream, continuation: continuation) { [weak self] count in
            self?.state.withLock { state in
                if let index = state.readers.firstIndex(where: { $0.key == key }) {
                    state.readers[index].outstanding -= count
                }
            }
        }
    }

    /// True once the step has ended.
    public var ended: Bool { state.withLock { $0.ended } }
}

/// A node's taps: one per run of a step of each job it runs, made by the first of the runner
/// and a reader to ask, so that a reader may come before its step starts. A reader that comes
/// after the step's run ended (and before another began) gets an ended tap.
public final class TapBoard: Sendable {
    private let state = Mutex(State())

    private struct State {
        var taps: [Key: EdgeTap] = [:]
        /// Steps whose last run has ended.
        var ended: Set<Key> = []
    }

    private struct Key: Hashable {
        var job: String
        var step: Int
    }

    public init() {}

    /// The tap of step `step` (from 0) of job `job`, for a reader.
    public func tap(job: String, step: Int) -> EdgeTap {
        let key = Key(job: job, step: step)
        let (tap, ended) = state.withLock { state -> (EdgeTap, Bool) in
            if let tap = state.taps[key] { return (tap, false) }
            let tap = EdgeTap()
            if state.ended.contains(key) { return (tap, true) }
            state.taps[key] = tap
            return (tap, false)
        }
        if ended { tap.end() }
        return tap
    }

    /// The tap of a new run of step `step` of job `job`, for the runner: the one its readers
    /// wait on, or a new one.
    public func open(job: String, step: Int) -> EdgeTap {
        let key = Key(job: job, step: step)
        return state.withLock { state in
            state.ended.remove(key)
            if let tap = state.taps[key], !tap.ended { return tap }
            let tap = EdgeTap()
            state.taps[key] = tap
            return tap
        }
    }

    /// The step's run has ended: its tap ends, and the next run of the step gets a new one.
    public func end(job: String, step: Int) {
        let key = Key(job: job, step: step)
        state.withLock { state in
            state.ended.insert(key)
            return state.taps.removeValue(forKey: key)
        }?.end()
    }

    /// The job has ended: the taps of its steps that never ran end too, and nothing is kept.
    public func end(job: String) {
        let ended = state.withLock { state in
            state.ended = state.ended.filter { $0.job != job }
            let keys = state.taps.keys.filter { $0.job == job }
            return keys.compactMap { state.taps.removeValue(forKey: $0) }
        }
        for tap in ended { tap.end() }
    }
}

/// A tap's `lines` format: the bytes cut into lines, with the job's secrets masked first as the
/// log masks them, and each line made safe to show: bytes that are not UTF-8, and control
/// characters other than tab, written as `\xNN`.
public struct TapLines: Sendable {
    private var lines: MaskedLines

    public init(secrets: [String]) {
        lines = MaskedLines(mask: SecretMask(secrets))
    }

    /// The lines that `bytes` completes.
    public mutating func feed(_ bytes: ByteBuffer) -> [String] {
        lines.feed(bytes).map(Self.visible)
    }

    /// The rest, once the bytes have ended.
    public mutating func finish() -> [String] {
        let (masked, last) = lines.finish()
        return (masked + (last.map { [$0] } ?? [])).map(Self.visible)
    }

    /// `bytes` as text, with what is not printable UTF-8 as `\xNN`.
    public static func visible(_ bytes: [UInt8]) -> String {
        func printable(_ byte: UInt8) -> Bool { byte >= 0x20 && byte != 0x7F || byte == 0x09 }
        if bytes.allSatisfy({ $0 >= 0x80 || printable($0) }),
            let text = String(validating: bytes, as: UTF8.self)
        {
            return text
        }
        var text = ""
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            if lead < 0x80 {
                text += printable(lead) ? String(UnicodeScalar(lead)) : "\\x" + [lead].hex
                index += 1
                continue
            }
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
            if index + length <= bytes.count,
                let scalar = String(validating: bytes[index..<index + length], as: UTF8.self)
            {
                text += scalar
                index += length
            } else {
                text += "\\x" + [lead].hex
                index += 1
            }
        }
        return text
    }
}
