import NIOCore
import PorterProtocol

/// Answers a version 2 client's opens: the service of each channel type sets up the channel's child pipeline
/// and decides to accept or refuse (docs/design/protocol-2.md section 5.4).
///
/// The services move onto channels one at a time; until a service has, its open is refused `unknown-service`
/// and a client reaches it on protocol version 1.
struct ChannelServices: Sendable {
    /// The server's services and settings.
    let connection: ServerConnection

    /// Sets up `child` for `open` and decides: the `accept` to send, or a ``ProtocolError`` to refuse with.
    /// `limits` are those announced in `welcome`.
    func open(_ open: ChannelMessage.Open, on child: PorterChildChannel, limits: ChannelLimits?)
        -> EventLoopFuture<ChannelMessage.Accept>
    {
        let limits = limits ?? ChannelLimits()
        switch open.parameters {
        case .echo:
            return child.eventLoop.makeCompletedFuture {
                try child.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                try child.pipeline.syncOperations.addHandler(EchoHandler())
                return ChannelMessage.Accept(window: limits.initialWindow, details: .echo)
            }
        default:
            let name = open.parameters.serviceName
            return child.eventLoop.makeFailedFuture(
                ProtocolError(
                    .unknownService,
                    "this server does not serve '\(name)' channels on protocol version 2 yet; use version 1"))
        }
    }
}
