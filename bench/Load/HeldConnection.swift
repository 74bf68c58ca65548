import NIOCore
import NIOPosix
import NIOSSL
import Porter
import PorterProtocol

/// One connection the idle load holds, driven by handlers on its event loop, with no task and no async channel: on
/// two shared cores the load generator competes with the server it measures, so it should cost as little per
/// connection as it can.
///
/// A Porter connection is up once authenticated (the pure ``ClientHandshake``; over TLS the channel binding is
/// taken from the certificate the server presented) and checked with a `ping`; a raw connection to a baseline
/// echo server is up once connected and checked with one byte that must come back.
struct HeldConnection: Sendable {
    enum Kind: Sendable {
        case porter(token: String, tls: NIOSSLContext?)
        case raw
    }

    let channel: any Channel
    /// Completes when the check is answered.
    private let answered: EventLoopFuture<Void>
    private let kind: Kind

    /// Connects from `source` to `address`; the future completes once the connection is up. (An address, not a
    /// host name: a name is resolved at every connect, which would cost the load more than the server.)
    static func open(from source: SocketAddress?, to address: SocketAddress, _ kind: Kind)
        -> EventLoopFuture<HeldConnection>
    {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let up = loop.makePromise(of: Void.self)
        let answered = loop.makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(.seconds(60))
        if let source { bootstrap = bootstrap.bind(to: source) }
        return
            bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    switch kind {
                    case .porter(let token, let tls):
                        if let tls { try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                        try pipeline.addHandler(FrameCodec())
                        try pipeline.addHandler(
                            PorterSide(token: token, tls: tls != nil, up: up, answered: answered))
                    case .raw:
                        try pipeline.addHandler(RawSide(answered: answered))
                        up.succeed()
                    }
                }
            }
            .connect(to: address)
            .flatMap { channel in
                up.futureResult.map { HeldConnection(channel: channel, answered: answered.futureResult, kind: kind) }
            }
    }

    /// Checks that the server still answers, then closes the connection.
    func check() -> EventLoopFuture<Void> {
        switch kind {
        case .porter: channel.writeAndFlush(ConnectionMessage.ping(.init(id: 1)).frame, promise: nil)
        case .raw: channel.writeAndFlush(ByteBuffer(string: "a"), promise: nil)
        }
        let channel = self.channel
        return answered.always { _ in channel.close(promise: nil) }
    }

    /// Opens `count` connections (`open` is given each one's number), `window` at a time: each one settled
    /// starts the next, on the event loop.
    static func openAll(
        count: Int, window: Int, _ open: @escaping @Sendable (Int) -> EventLoopFuture<HeldConnection>
    ) async -> (up: [HeldConnection], failed: Int) {
        guard count > 0 else { return ([], 0) }
        let state = Locked((launched: 0, settled: 0, up: [HeldConnection](), failed: 0))
        let done = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        @Sendable func launch() {
            let number = state.withLock { state in
                state.launched += 1
                return state.launched
            }
            guard number <= count else { return }
            open(number).whenComplete { result in
                let finished = state.withLock { state in
                    switch result {
                    case .success(let connection): state.up.append(connection)
                    case .failure: state.failed += 1
                    }
                    state.settled += 1
                    return state.settled == count
                }
                if finished { done.succeed() } else { launch() }
            }
        }
        for _ in 0..<min(window, count) { launch() }
        try? await done.futureResult.get()
        return state.withLock { ($0.up, $0.failed) }
    }

    /// A TLS context that accepts the server's certificate: the load measures the server, not identity checks.
    static func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }
}

/// The connection closed before it was up or checked.
private struct ConnectionClosed: Error {}

/// Authenticates, sends keepalives as ``PorterClient`` does, and completes `answered` at the first `pong`.
private final class PorterSide: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    private var handshake: ClientHandshake
    private let tls: Bool
    private let up: EventLoopPromise<Void>
    private let answered: EventLoopPromise<Void>
    private var authenticated = false
    private var keepalives: RepeatedTask?

    init(token: String, tls: Bool, up: EventLoopPromise<Void>, answered: EventLoopPromise<Void>) {
        self.handshake = ClientHandshake(
            agent: "porter-load", token: token, nonce: Randomness.bytes(ControlMessage.nonceLength))
        self.tls = tls
        self.up = up
        self.answered = answered
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(handshake.start().frame), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if authenticated {
            if case .pong = try? ConnectionMessage(frame: frame) { answered.succeed() }
            return
        }
        if tls, handshake.binding.isEmpty,
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                .peerCertificate,
            let der = try? certificate.toDERBytes()
        {
            handshake.binding = ChannelBinding.serverEndPoint(certificateDER: der)
        }
        switch handshake.receive(frame) {
        case .switchForm(let auth):
            // `welcome` was the last frame in the handshake form.
            context.triggerUserOutboundEvent(FrameForm.channels, promise: nil)
            context.writeAndFlush(wrapOutboundOut(auth.frame), promise: nil)
        case .authenticated(let welcome):
            authenticated = true
            up.succeed()
            keepalives = Self.scheduleKeepalives(on: context.channel, idleTimeout: welcome.limits.idleTimeout)
        case .fail, .sign:
            // A held connection authenticates with the token, so it is never asked to sign.
            context.close(promise: nil)
        }
    }

    /// Sends a keepalive every third of the server's idle timeout (in seconds), as Porter's client does, until the
    /// returned task is cancelled; nil when the server closes no idle connections.
    private static func scheduleKeepalives(on channel: any Channel, idleTimeout: Double) -> RepeatedTask? {
        guard idleTimeout > 0 else { return nil }
        let interval = TimeLimit.timeAmount(seconds: idleTimeout / 3)
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            channel.writeAndFlush(ConnectionMessage.keepalive.frame, promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepalives?.cancel()
        up.fail(ConnectionClosed())
        answered.fail(ConnectionClosed())
        context.fireChannelInactive()
    }
}

/// Completes `answered` at the first byte that comes back.
private final class RawSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let answered: EventLoopPromise<Void>

    init(answered: EventLoopPromise<Void>) { self.answered = answered }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answered.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        answered.fail(ConnectionClosed())
        context.fireChannelInactive()
    }
}
