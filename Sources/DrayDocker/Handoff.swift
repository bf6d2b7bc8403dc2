import Synchronization

/// A bounded queue from one producer task to one consumer task that, unlike `AsyncStream`,
/// does not end when the consumer's task is canceled: a canceled step's container is stopped,
/// and what it prints until it has stopped is still read and logged.
///
/// The consumer ends it with ``close()``; the producer's later ``push(_:)``es then return false.
final class Handoff<Element: Sendable>: Sendable {
    private let capacity: Int
    private let state = Mutex(State())

    private struct State {
        var items: [Element] = []
        var head = 0
        var finished = false
        var closed = false
        var consumer: CheckedContinuation<Element?, Never>?
        var producer: CheckedContinuation<Void, Never>?
        var count: Int { items.count - head }
    }

    init(capacity: Int = 16) {
        self.capacity = capacity
    }

    /// Adds `item`, waiting while the queue is full; false once the consumer has closed it.
    @discardableResult
    func push(_ item: Element) async -> Bool {
        let (consumer, full, open) = state.withLock { state -> (CheckedContinuation<Element?, Never>?, Bool, Bool) in
            guard !state.closed else { return (nil, false, false) }
            if let consumer = state.consumer {
                state.consumer = nil
                return (consumer, false, true)
            }
            state.items.append(item)
            return (nil, state.count >= capacity, true)
        }
        consumer?.resume(returning: item)
        guard full else { return open }
        await withCheckedContinuation { continuation in
            let wait = state.withLock { state in
                guard state.count >= capacity, !state.closed else { return false }
                state.producer = continuation
                return true
            }
            if !wait { continuation.resume() }
        }
        return state.withLock { !$0.closed }
    }

    /// No more items: the consumer gets those queued, then nil.
    func finish() {
        let consumer = state.withLock { state in
            state.finished = true
            defer { state.consumer = nil }
            return state.count > 0 ? nil : state.consumer
        }
        consumer?.resume(returning: nil)
    }

    /// The next item, or nil once the producer has finished and all were taken.
    func next() async -> Element? {
        await withCheckedContinuation { continuation in
            let (answer, producer) = state.withLock { state -> (Element??, CheckedContinuation<Void, Never>?) in
                if state.head < state.items.count {
                    let item = state.items[state.head]
                    state.head += 1
                    if state.head > 64 && state.head * 2 > state.items.count {
                        state.items.removeFirst(state.head)
                        state.head = 0
                    }
                    defer { state.producer = nil }
                    return (.some(item), state.producer)
                }
                if state.finished || state.closed { return (.some(nil), nil) }
                state.consumer = continuation
                return (nil, nil)
            }
            producer?.resume()
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// The consumer stops: what is queued is dropped and a waiting producer goes on.
    func close() {
        let (producer, consumer) = state.withLock { state in
            state.closed = true
            state.items = []
            state.head = 0
            defer {
                state.producer = nil
                state.consumer = nil
            }
            return (state.producer, state.consumer)
        }
        producer?.resume()
        consumer?.resume(returning: nil)
    }
}
