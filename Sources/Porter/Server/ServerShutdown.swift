import NIOCore

/// The server is shutting down: fired into every open native connection's pipeline, where the
/// ``ChannelMultiplexer`` passes it to the connection's state machine and into every channel's pipeline, where
/// ``ChatBridge`` ends its membership (docs/PROTOCOL.md, shutting down). A second one ends the grace period at once.
struct ServerShutdown: Sendable {
    /// How long channels in use (chat memberships excepted) may go on before the connection is closed.
    let grace: TimeAmount
}
