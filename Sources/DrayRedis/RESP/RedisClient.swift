import NIOCore
import NIOPosix

/// A small Redis client: a pool of pipelined connections, opened on demand, with `AUTH` and
/// `SELECT` from the configuration. After a failed connection it waits (100 ms, doubling, at
/// most 2 s by default) before trying again; meanwhile calls fail at once with the last error,
/// so callers can answer quickly and retry later. Nothing needs restarting when Redis returns.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let pool: Pool

    public init(
        configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.pool = Pool(configuration: configuration, group: group)
    }

    /// Sends one command and returns its reply; an error reply throws ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ name: String, _ arguments: [RedisArgument] = []) async throws -> RESPValue {
        try await send(RedisCommand(name, arguments))
    }

    /// Sends one command made beforehand; an error reply throws ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await pipeline([command])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Sends `commands` in one write on one connection and returns their replies in order,
    /// error replies included.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await pool.connection().send(commands)
    }

    /// Closes every connection. Later calls connect again.
    public func close() async {
        await pool.close()
    }
}

extension RedisClient {
    /// The connections, opened lazily and handed out in turn.
    private actor Pool {
        private enum Slot {
            case empty
            case connecting(Task<RedisConnection, any Error>)
            case ready(RedisConnection)
        }

        private let configuration: RedisConfiguration
        private let group: any EventLoopGroup
        private var slots: [Slot]
        private var next = 0
        private var failures = 0
        private var retryAt: ContinuousClock.Instant?
        private var lastError: (any Error)?

        init(configuration: RedisConfiguration, group: any EventLoopGroup) {
            self.configuration = configuration
            self.group = group
            slots = Array(repeating: .empty, count: max(1, configuration.connections))
        }

        func connection() async throws -> RedisConnection {
            let index = next
            next = (next + 1) % slots.count
            switch slots[index] {
            case .ready(let connection) where connection.isActive: return connection
            case .connecting(let task): return try await task.value
            case .ready, .empty: break
            }
            if let retryAt, let lastError, ContinuousClock.now < retryAt {
                throw lastError
            }
            let task = Task { [configuration, group] in try await RedisConnection.connect(configuration, group: group) }
            slots[index] = .connecting(task)
            do {
                let connection = try await task.value
                slots[index] = .ready(connection)
                failures = 0
                retryAt = nil
                lastError = nil
                return connection
            } catch {
                slots[index] = .empty
                failures += 1
                let backoff = min(
                    configuration.initialBackoff * (1 << min(failures - 1, 20)), configuration.maximumBackoff)
                retryAt = .now + backoff
                lastError = error
                throw error
            }
        }

        func close() {
            for slot in slots {
                switch slot {
                case .ready(let connection): connection.close()
                case .connecting(let task): task.cancel()
                case .empty: break
                }
            }
            slots = Array(repeating: .empty, count: slots.count)
        }
    }
}
