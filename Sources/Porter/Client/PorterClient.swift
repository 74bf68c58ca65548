import Logging
import NIOCore
import NIOPosix
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Connects to a Porter server.
public enum PorterClient {
    /// Connects to `endpoint`, authenticates, runs `body` with the connection, then closes it.
    ///
    /// A ``ChannelMultiplexer`` runs the handshake (under the connect timeout: a server that never answers cannot
    /// hang the client) and then the channels, all on the connection's event loop. While `body` runs, the
    /// connection sends a keepalive often enough that the server's idle timeout never closes it.
    ///
    /// - Throws: ``PorterError`` when the server cannot be reached or the handshake fails, and whatever `body`
    ///   throws.
    public static func withConnection<Result: Sendable>(
        to endpoint: Endpoint,
        configuration: ClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        let session: TLSSession? =
            if endpoint.isTCP, case .tls(let trust) = configuration.transport {
                TLSSession(host: endpoint.description, trust: trust)
            } else {
                nil
            }
        let handshake = ClientHandshake(
            agent: configuration.agent, credential: configuration.credentials.handshake,
            nonce: Randomness.bytes(ControlMessage.nonceLength), limits: configuration.frameLimits)
        let machine = ConnectionStateMachine(
            client: handshake,
            timeouts: .init(authentication: TimeLimit.timeAmount(seconds: configuration.connectTimeout), idle: nil))
        let connectTimeout = configuration.connectTimeout
        let credentials = configuration.credentials
        let channels = try await connect(
            to: endpoint, configuration: configuration, session: session, group: group
        ) { channel in
            let welcome = channel.eventLoop.makePromise(of: ClientChannels.Authenticated.self)
            let waits = ChannelMultiplexer.ClientWaits(
                eventLoop: channel.eventLoop, binding: { session?.binding ?? [] }, connectTimeout: connectTimeout,
                credentials: credentials, handshake: welcome)
            let multiplexer = ChannelMultiplexer(
                client: machine, waits: waits, logger: Logger(label: "porter.client"))
            try channel.pipeline.syncOperations.addHandler(multiplexer)
            return ClientChannels(
                channel: channel, multiplexer: NIOLoopBound(multiplexer, eventLoop: channel.eventLoop),
                authenticated: welcome.futureResult)
        }
        do {
            let authenticated: ClientChannels.Authenticated
            do {
                authenticated = try await channels.authenticated.get()
                try session?.recordIfNeeded()
            } catch {
                // A refusal below the Porter protocol (an unknown or changed identity, a server without TLS)
                // explains the broken connection better than the broken connection does.
                throw session?.failure ?? error
            }
            let connection = ClientConnection(
                endpoint: endpoint, welcome: authenticated.welcome, fingerprint: session?.fingerprint,
                key: authenticated.key, channels: channels)
            let result = try await body(connection)
            try? await channels.channel.close()
            return result
        } catch {
            try? await channels.channel.close()
            throw error
        }
    }

    /// Connects to `endpoint` with TLS (if `session`) and the frame codec in the pipeline; `last` adds what
    /// follows them, on the event loop, and makes the result.
    static func connect<Output: Sendable>(
        to endpoint: Endpoint,
        configuration: ClientConfiguration,
        session: TLSSession?,
        group: any EventLoopGroup,
        last: @escaping @Sendable (any Channel) throws -> Output
    ) async throws(PorterError) -> Output {
        let limits = configuration.frameLimits
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeLimit.timeAmount(seconds: configuration.connectTimeout))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Output> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.allowLargeReads()
                let pipeline = channel.pipeline.syncOperations
                if let session {
                    try pipeline.addHandler(TLSReplyCheck(session: session))
                    try pipeline.addHandler(session.makeHandler())
                }
                try pipeline.addFrameCodec(limits: limits)
                return try last(channel)
            }
        }
        do {
            switch endpoint {
            case .tcp(let host, let port):
                let bootstrap = bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1)
                // An address needs no resolver: connecting to it directly skips a lookup on another thread and
                // the happy-eyeballs race, which a short command would pay for at every start.
                if let address = try? SocketAddress(ipAddress: host, port: port) {
                    return try await bootstrap.connect(to: address, channelInitializer: initializer)
                }
                return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            case .unix(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            }
        } catch {
            throw PorterError(.connection, "cannot connect to \(endpoint): \(describe(error))")
        }
    }

    /// The error for a handshake that did not finish within `seconds`.
    static func handshakeTimedOut(seconds: Double, answeredTLS: Bool) -> PorterError {
        let seconds = TimeLimit.text(seconds: seconds)
        // A server that answered TLS but not Porter is something else; one that answered nothing at all has most
        // likely accepted the connection and holds it, unread, until a handshake slot frees up.
        if answeredTLS {
            return PorterError(
                .connection,
                "the server answered TLS but no Porter handshake within \(seconds) s; is it a Porter server?")
        }
        return PorterError(
            .connection,
            "the server is busy: it accepted the connection but did not start the handshake within \(seconds) s (every handshake slot was taken, or it is not a Porter server); try again later, or allow longer with --connect-timeout"
        )
    }

    static func describe(_ error: any Error) -> String {
        ErrorText.describe(error)
    }
}

extension PorterError {
    init(handshakeFailure error: ProtocolError) {
        let kind: Kind =
            switch error.code {
            case .authFailed, .authTimeout, .unsupportedVersion: .authentication
            default: .protocolViolation
            }
        self.init(kind, error.message, code: error.code)
    }
}
