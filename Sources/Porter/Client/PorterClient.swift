import NIOCore
import NIOPosix
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Connects to a Porter server.
public enum PorterClient {
    /// Connects to `endpoint`, authenticates, runs `body` with the connection, then closes it.
    ///
    /// While `body` runs, the connection sends a keepalive often enough that the server's idle timeout never
    /// closes it.
    ///
    /// - Throws: ``PorterError`` when the server cannot be reached or the handshake fails, and whatever `body`
    ///   throws.
    public static func withConnection<Result: Sendable>(
        to endpoint: Endpoint,
        configuration: ClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        var session: TLSSession?
        if endpoint.isTCP, case .tls(let trust) = configuration.transport {
            session = TLSSession(host: endpoint.description, trust: trust)
        }
        guard configuration.version == 1 || configuration.version == ConnectionMessage.version else {
            throw PorterError(.configuration, "protocol version \(configuration.version) is not 1 or 2")
        }
        if configuration.version == ConnectionMessage.version {
            return try await withChannelConnection(
                to: endpoint, configuration: configuration, session: session, group: group, body)
        }
        let channel = try await connect(to: endpoint, configuration: configuration, session: session, group: group) {
            channel in try FrameChannel(wrappingChannelSynchronously: channel)
        }
        return try await channel.executeThenClose { inbound, outbound in
            let frames = FrameReader(inbound.makeAsyncIterator())
            let writer = FrameWriter(outbound: outbound, channel: channel.channel)
            let welcome: ControlMessage.Welcome
            do {
                welcome = try await handshake(channel.channel, frames, writer, configuration: configuration, session)
                try session?.recordIfNeeded()
            } catch {
                // A refusal below the Porter protocol (an unknown or changed identity, a server without TLS)
                // explains the broken connection better than the broken connection does.
                throw session?.failure ?? error
            }
            let connection = ClientConnection(
                endpoint: endpoint, welcome: welcome, fingerprint: session?.fingerprint, frames: frames, writer: writer)
            // Keepalives are timed on the event loop, not by a task: a caller whose tasks keep the cooperative
            // threads busy must not starve them into the server's idle timeout.
            let keepalives = scheduleKeepalives(on: channel.channel, idleTimeout: welcome.limits.idleTimeout)
            defer { keepalives?.cancel() }
            return try await body(connection)
        }
    }

    /// Sends a keepalive every third of the server's idle timeout until the returned task is cancelled; nil when
    /// the server closes no idle connections.
    package static func scheduleKeepalives(on channel: any Channel, idleTimeout: Int) -> RepeatedTask? {
        guard idleTimeout > 0 else { return nil }
        let interval = TimeAmount.milliseconds(Int64(idleTimeout) * 1000 / 3)
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            channel.writeAndFlush(ControlMessage.keepalive.frame, promise: nil)
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

    /// Runs the client handshake under the connect timeout: a server that never answers cannot hang the client.
    private static func handshake(
        _ channel: any Channel,
        _ frames: FrameReader,
        _ writer: FrameWriter,
        configuration: ClientConfiguration,
        _ session: TLSSession?
    ) async throws -> ControlMessage.Welcome {
        let timedOut = Atomic<Bool>(false)
        let deadline = channel.eventLoop.scheduleTask(in: TimeLimit.timeAmount(seconds: configuration.connectTimeout)) {
            timedOut.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        var handshake = ClientHandshake(
            agent: configuration.agent,
            token: configuration.token,
            nonce: Randomness.bytes(ControlMessage.nonceLength)
        )
        do {
            try await writer.send(handshake.start())
            while true {
                let message = try await frames.nextMessage(allowingErrors: true)
                // Any answer comes through TLS, so the server's certificate, and with it the binding, is known.
                handshake.binding = session?.binding ?? []
                switch handshake.receive(message) {
                case .send(let message): try await writer.send(message)
                case .switchForm:
                    // Only for a client that offered version 2, which takes the multiplexer's path.
                    throw PorterError(.protocolViolation, "the server switched to version 2's frames unasked")
                case .authenticated(let welcome): return welcome
                case .fail(let error): throw PorterError(handshakeFailure: error)
                }
            }
        } catch let error where timedOut.load(ordering: .relaxed) {
            _ = error
            throw handshakeTimedOut(
                seconds: configuration.connectTimeout, answeredTLS: !(session?.binding.isEmpty ?? true))
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
