import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Watches each connection below the routes, where Hummingbird's handlers cannot:
///
/// - a client that has not sent a request's headers within `headerTimeout` of connecting, or
///   of the last answer's end, is disconnected: one sending a byte a second no longer holds a
///   connection for ever;
/// - a client that has not sent a request's whole body within `bodyTimeout` of its headers is
///   disconnected too: headers then a stalled body held a connection (and its buffers) for ever;
/// - a request the HTTP parser refuses gets a 400 with a JSON message, like every other error,
///   rather than an empty body.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    /// When the connection is closed unless the awaited part (a head, or a body's end) comes.
    private var deadline: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { waitForHead(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        waitForHead(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: close(context, after: bodyTimeout)
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { waitForHead(context) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        deadline?.cancel()
        let message = ["error": "the request is not valid HTTP: \(Self.describe(parserError))"]
        let body = ByteBuffer(bytes: (try? JSONResponse.encoder.encode(message)) ?? Data())
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes),
                .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func waitForHead(_ context: ChannelHandlerContext) {
        close(context, after: headerTimeout)
    }

    private func close(_ context: ChannelHandlerContext, after timeout: TimeAmount) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    /// The parser's complaint in words.
    private static func describe(_ error: HTTPParserError) -> String {
        if case .invalidEOFState = error { return "it ended before its body did: send the whole body" }
        return String(describing: error)
    }
}
