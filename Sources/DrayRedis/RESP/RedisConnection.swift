import NIOCore
import NIOPosix

/// One connection to Redis. Commands are pipelined: many may be in flight, and their replies
/// come back in order. A command that gets no reply in time drops the connection, since a late
/// reply would be taken for the next command's.
final class RedisConnection: Sendable {
    private let channel: any Channel
    private let address: String
    private let timeout: Duration

    private init(channel: any Channel, address: String, timeout: Duration) {
        self.channel = channel
        self.address = address
        self.timeout = timeout
    }

    var isActive: Bool { channel.isActive }

    /// Connects, then sends `AUTH` and `SELECT` as the configuration says.
    static func connect(_ configuration: RedisConfiguration, group: any EventLoopGroup) async throws -> RedisConnection
    {
        let channel = try await open(configuration, group: group) { pipeline in
            try pipeline.addHandler(RedisRequestHandler())
        }
        let connection = RedisConnection(
            channel: channel, address: configuration.redactedURL, timeout: configuration.commandTimeout)
        let setup = setupCommands(configuration)
        do {
            for (command, reply) in zip(setup, try await connection.send(setup)) {
                if case .error(let message) = reply {
                    throw RedisError.server("\(command.name) at \(configuration.redactedURL) failed: \(message)")
                }
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// A connection to Redis that decodes what it reads into ``RESPValue``s and hands them to
    /// the handler `addHandler` adds.
    static func open(
        _ configuration: RedisConfiguration, group: any EventLoopGroup,
        addHandler: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) async throws -> any Channel {
        let channel: any Channel
        do {
            let bootstrap = ClientBootstrap(group: group)
                .connectTimeout(.duration(configuration.connectTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                        try addHandler(channel.pipeline.syncOperations)
                    }
                }
            // An address is connected to as it is; only a name is looked up (getaddrinfo, on a
            // thread of its own), and that lookup counts against the connect timeout.
            if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
                channel = try await bootstrap.connect(to: address).get()
            } else {
                channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
            }
        } catch {
            throw RedisError.connection("cannot connect to Redis at \(configuration.redactedURL): \(error)")
        }
        // Small commands go out at once. Set after connecting, and only where allowed: some
        // sandboxes refuse the option (EPERM) inside a container, and Redis works without it.
        try? await channel.setOption(.socketOption(.tcp_nodelay), value: 1).get()
        return channel
    }

    /// `AUTH` and `SELECT`, as the configuration asks: what a new connection sends first.
    static func setupCommands(_ configuration: RedisConfiguration) -> [RedisCommand] {
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            setup.append(
                RedisCommand("AUTH", (configuration.username.map { [.string($0)] } ?? []) + [.string(password)]))
        }
        if configuration.database != 0 { setup.append(RedisCommand("SELECT", [.int(configuration.database)])) }
        return setup
    }

    /// Sends `commands` in one write and returns their replies, error replies included.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var bytes = commands[0].bytes
        for command in commands.dropFirst() { bytes.writeImmutableBuffer(command.bytes) }
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        let channel = self.channel
        let message = "Redis at \(address) did not answer \(commands[0].name) within \(timeout)"
        let timer = channel.eventLoop.scheduleTask(in: .duration(timeout)) {
            channel.pipeline.fireErrorCaught(RedisError.timeout(message))
        }
        // Cancelled on the event loop as the replies arrive, not when this task resumes: a task
        // that waits for a thread (a busy machine) must not let the timer fire after its replies
        // came, which would close the connection under the commands sent after it.
        promise.futureResult.whenComplete { _ in timer.cancel() }
        channel.writeAndFlush(RedisRequest(bytes: bytes, count: commands.count, promise: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    func close() {
        channel.close(promise: nil)
    }
}

extension TimeAmount {
    static func duration(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Commands on their way out, and the promise of their replies.
struct RedisRequest: Sendable {
    var bytes: ByteBuffer
    var count: Int
    var promise: EventLoopPromise<[RESPValue]>
}

/// Matches replies to requests in order. Any failure fails every request in flight and closes
/// the connection: after it, no reply could be trusted to belong to its request.
final class RedisRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        var count: Int
        var promise: EventLoopPromise<[RESPValue]>
    }

    private var waiting = CircularBuffer<Waiting>()
    /// The replies so far to the first request waiting. Kept apart: appended through the
    /// buffer's subscript, the array was copied at every reply (a 500-command pipeline copied
    /// 125,000 replies).
    private var replies: [RESPValue] = []
    private var failure: (any Error)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        waiting.append(Waiting(count: request.count, promise: request.promise))
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !waiting.isEmpty else {
            fail(context: context, RedisError.protocolError("a reply came that no command asked for"))
            return
        }
        if replies.isEmpty { replies.reserveCapacity(waiting[waiting.startIndex].count) }
        replies.append(unwrapInboundIn(data))
        if replies.count == waiting[waiting.startIndex].count {
            let done = waiting.removeFirst()
            let answer = replies
            replies = []
            done.promise.succeed(answer)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connection("the connection to Redis was closed"))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failAll(error is RedisError ? error : RedisError.protocolError("\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        if failure == nil { failure = error }
        replies = []
        while let request = waiting.popFirst() { request.promise.fail(failure!) }
    }
}
