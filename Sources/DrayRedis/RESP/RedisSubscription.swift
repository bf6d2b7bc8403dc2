import NIOCore
import NIOPosix

extension RedisClient {
    /// Subscribes to `channel` on a connection of its own and calls `received` with each
    /// message's payload, until the connection fails (it throws) or the task is canceled (it
    /// returns). `subscribed` is called once Redis confirmed the subscription.
    public func subscribe(
        to channel: String, subscribed: @Sendable () -> Void = {}, _ received: @Sendable (String) -> Void
    ) async throws {
        let (messages, continuation) = AsyncThrowingStream<RESPValue, any Error>.makeStream()
        let address = configuration.redactedURL
        let connection = try await RedisConnection.open(configuration, group: MultiThreadedEventLoopGroup.singleton) {
            try $0.addHandler(PushHandler(continuation: continuation))
        }
        try await withTaskCancellationHandler {
            var bytes = ByteBuffer()
            for command in RedisConnection.setupCommands(configuration) + [
                RedisCommand("SUBSCRIBE", [.string(channel)])
            ] {
                bytes.writeImmutableBuffer(command.bytes)
            }
            try await connection.writeAndFlush(bytes)
            for try await value in messages {
                switch value {
                case .error(let message):
                    throw RedisError.server("SUBSCRIBE at \(address) failed: \(message)")
                case .array(let parts?) where parts.count == 3:
                    switch parts[0].string {
                    case "subscribe": subscribed()
                    case "message": received(parts[2].string ?? "")
                    default: break
                    }
                default: break  // AUTH's and SELECT's +OK
                }
            }
            if !Task.isCancelled { throw RedisError.connection("the subscription to Redis at \(address) was closed") }
        } onCancel: {
            connection.close(promise: nil)
        }
    }
}

/// Passes on every value Redis pushes, and ends the stream when the connection ends.
private final class PushHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = RESPValue
    private let continuation: AsyncThrowingStream<RESPValue, any Error>.Continuation

    init(continuation: AsyncThrowingStream<RESPValue, any Error>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: RedisError.protocolError("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}
