import Logging
import NIOCore
import PorterProtocol

/// A client's connection, as the async side holds it: the channel and its multiplexer, which is used on
/// the event loop only.
struct ClientChannels: Sendable {
    let channel: any Channel
    let multiplexer: NIOLoopBound<ChannelMultiplexer>
    /// Completes when the server is authenticated.
    let authenticated: EventLoopFuture<Authenticated>

    /// How the handshake ended: the server's `welcome`, and the key it accepted (`nil` for the token).
    struct Authenticated: Sendable {
        let welcome: ConnectionMessage.Welcome
        let key: SSHPublicKey?
    }

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
        // An absurd number is the caller's error, found before anything is sent.
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
