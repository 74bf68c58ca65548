import Logging
import NIOCore
import PorterProtocol

extension PorterClient {
    /// ``withConnection(to:configuration:group:_:)`` on protocol version 2: a ``ChannelMultiplexer`` runs the
    /// handshake and then the channels, all on the connection's event loop.
    static func withChannelConnection<Result: Sendable>(
        to endpoint: Endpoint,
        configuration: ClientConfiguration,
        session: TLSSession?,
        group: any EventLoopGroup,
        _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        let handshake = ClientHandshake(
            agent: configuration.agent, token: configuration.token, nonce: Randomness.bytes(ControlMessage.nonceLength),
            version: ConnectionMessage.version, limits: configuration.frameLimits)
        let machine = ConnectionStateMachine(
            client: handshake,
            timeouts: .init(authentication: TimeLimit.timeAmount(seconds: configuration.connectTimeout), idle: nil))
        let connectTimeout = configuration.connectTimeout
        let channels = try await connect(
            to: endpoint, configuration: configuration, session: session, group: group
        ) { channel in
            let welcome = channel.eventLoop.makePromise(of: ControlMessage.Welcome.self)
            let waits = ChannelMultiplexer.ClientWaits(
                eventLoop: channel.eventLoop, binding: { session?.binding ?? [] }, connectTimeout: connectTimeout,
                handshake: welcome)
            let multiplexer = ChannelMultiplexer(
                client: machine, waits: waits, logger: Logger(label: "porter.client"))
            try channel.pipeline.syncOperations.addHandler(multiplexer)
            return ClientChannels(
                channel: channel, multiplexer: NIOLoopBound(multiplexer, eventLoop: channel.eventLoop),
                welcome: welcome.futureResult)
        }
        do {
            let welcome: ControlMessage.Welcome
            do {
                welcome = try await channels.welcome.get()
                try session?.recordIfNeeded()
            } catch {
                // As on version 1: a refusal below the Porter protocol explains the broken connection better.
                throw session?.failure ?? error
            }
            let connection = ClientConnection(
                endpoint: endpoint, welcome: welcome, fingerprint: session?.fingerprint, channels: channels)
            let result = try await body(connection)
            try? await channels.channel.close()
            return result
        } catch {
            try? await channels.channel.close()
            throw error
        }
    }
}

/// A client's version 2 connection, as the async side holds it: the channel and its multiplexer, which is used on
/// the event loop only.
struct ClientChannels: Sendable {
    let channel: any Channel
    let multiplexer: NIOLoopBound<ChannelMultiplexer>
    /// Completes when the server is authenticated.
    let welcome: EventLoopFuture<ControlMessage.Welcome>

    /// Opens a channel for `parameters`, granting the server `window` bytes, and returns it once accepted.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/refused`` if the server refused the channel (the
    ///   connection goes on), or of the connection's failure.
    func open(_ parameters: ChannelMessage.Open.Parameters, window: Int = ChannelLimits.defaultInitialWindow)
        async throws(PorterError) -> ClientChannel
    {
        try await openAccepted(parameters, window: window).channel
    }

    /// ``open(_:window:)``, with the server's `accept` (its window and the service's details, such as exec's pid).
    /// `maxHeldMessages` bounds the server's messages that wait unread (``ClientChannel/attach(to:maxHeldMessages:)``).
    func openAccepted(
        _ parameters: ChannelMessage.Open.Parameters, window: Int = ChannelLimits.defaultInitialWindow,
        maxHeldMessages: Int? = nil
    ) async throws(PorterError) -> (channel: ClientChannel, accept: ChannelMessage.Accept) {
        // As on version 1, an absurd number is the caller's error, found before anything is sent.
        let open = ChannelMessage.open(.init(window: window, parameters: parameters))
        do {
            try open.validate()
        } catch {
            throw PorterError(.configuration, "cannot open a '\(parameters.serviceName)' channel: \(error.message)")
        }
        let multiplexer = self.multiplexer
        let opened = channel.eventLoop.flatSubmit {
            multiplexer.value.open(parameters, window: window) { child in
                try ClientChannel.attach(to: child, maxHeldMessages: maxHeldMessages)
            }
        }
        do {
            return try await opened.get()
        } catch {
            throw Self.porterError(error)
        }
    }

    /// Sends a `ping` and waits for its `pong`.
    func ping() async throws(PorterError) {
        let multiplexer = self.multiplexer
        do {
            try await channel.eventLoop.flatSubmit { multiplexer.value.ping() }.get()
        } catch {
            throw Self.porterError(error)
        }
    }

    /// What a failure of the connection or a refusal means to the caller.
    static func porterError(_ error: any Error) -> PorterError {
        switch error {
        case let error as PorterError:
            return error
        case let refused as ChannelMultiplexer.OpenRefused:
            // Kind `refused`, but `connection` for `shutting-down`: the server is going away (exit status 255).
            return PorterError(remote: .init(refused.error, fatal: false))
        case let error as ProtocolError:
            return PorterError(.configuration, error.message, code: error.code)
        case let unread as PorterChildChannel.TooManyHeldMessages:
            return PorterError(
                .refused, "more than \(unread.limit) messages from the server waited unread; the channel was closed",
                code: .slowConsumer)
        case ChannelError.ioOnClosedChannel, ChannelError.eof:
            return PorterError(.connection, "the connection is closed")
        default:
            return PorterError(.connection, "connection lost: \(PorterClient.describe(error))")
        }
    }
}
