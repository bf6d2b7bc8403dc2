import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A hijacked attach connection: raw bytes to the container's stdin, multiplexed frames back
/// (see ``FrameDecoder``). Finishing its outbound writer closes the container's stdin.
public typealias AttachChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

extension DockerClient {
    /// Maps to `POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, with the
    /// connection upgraded to a raw two-way stream (`101 UPGRADED`).
    ///
    /// Attach before start so that no output is missed.
    public func attach(_ id: String) async throws(DockerClientError) -> AttachChannel {
        let head = HTTPRequestHead(
            version: .http1_1,
            method: .POST,
            uri: versioned("/containers/\(id)/attach") + "?stream=1&stdin=1&stdout=1&stderr=1",
            headers: ["Host": "docker", "Content-Length": "0"]
        )
        let tls = self.tls
        let initializer: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<AttachUpgrade>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                // TLS sits below HTTP and stays when the upgrade removes the HTTP handlers;
                // closing the stream's output then sends TLS's close_notify, the engine's stdin EOF.
                if let tls { try channel.pipeline.syncOperations.addHandler(try tls.handler()) }
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<AttachUpgrade>(
                    upgradeRequestHead: head,
                    upgraders: [RawStreamUpgrader()],
                    notUpgradingCompletionHandler: { channel in
                        channel.close(promise: nil)
                        return channel.eventLoop.makeSucceededFuture(.refused)
                    }
                )
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: .init(upgradeConfiguration: configuration))
            }
        }
        let upgrade: AttachUpgrade
        let start = ContinuousClock.now
        do {
            upgrade = try await connect(channelInitializer: initializer).get()
        } catch {
            observe?("POST /containers/{id}/attach", .now - start)
            throw transportError(error)
        }
        observe?("POST /containers/{id}/attach", .now - start)
        switch upgrade {
        case .upgraded(let channel): return channel
        case .refused: throw .http(status: 0, message: "the Docker engine refused to attach to container \(id)")
        }
    }
}

extension DockerClient {
    /// Opens a new connection to the engine and closes it: whether the engine still listens,
    /// which a request on a pooled connection would not tell (an engine that is stopping
    /// closes its listener first, and still answers on the connections it has).
    public func checkListening() async throws(DockerClientError) {
        do {
            let channel = try await connect { $0.eventLoop.makeSucceededFuture($0) }
            try await channel.close()
        } catch {
            throw transportError(error)
        }
    }

    /// A new connection to the engine's socket or port, outside AsyncHTTPClient's pool, set up
    /// by `initializer`.
    private func connect<Output: Sendable>(
        channelInitializer initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws -> Output {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(10))
        switch endpoint {
        case .unix(let path):
            return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
        case .tcp(let host, let port), .tls(let host, let port, _):
            return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
        }
    }
}

enum AttachUpgrade: Sendable {
    case upgraded(AttachChannel)
    case refused
}

/// Accepts the engine's `Upgrade: tcp` and wraps the bare connection.
private struct RawStreamUpgrader: NIOTypedHTTPClientProtocolUpgrader {
    typealias UpgradeResult = AttachUpgrade

    let supportedProtocol = "tcp"
    let requiredUpgradeHeaders: [String] = []

    func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {}

    func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool { true }

    func upgrade(channel: any Channel, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<AttachUpgrade> {
        channel.eventLoop.makeCompletedFuture {
            .upgraded(
                try AttachChannel(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: true)))
        }
    }
}
