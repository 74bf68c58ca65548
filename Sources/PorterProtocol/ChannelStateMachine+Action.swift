import NIOCore

extension ChannelStateMachine {
    /// What the connection must do after an input on a channel, in the order given.
    public enum Action: Sendable, Equatable {
        /// Write this frame on the connection.
        case write(Frame)
        /// Server: a client opened the channel; ask its service, then answer with
        /// ``ChannelStateMachine/accept(_:)`` or ``ChannelStateMachine/refuse(_:)``.
        case openRequested(ChannelMessage.Open)
        /// Client: the server accepted the channel.
        case accepted(ChannelMessage.Accept)
        /// Client: the server refused the channel; its id is free.
        case refused(ProtocolError)
        /// Data, a message or the peer's eof, for the channel's local code.
        case deliver(Delivery)
        /// The credit for this side's data is now this many bytes: writes that waited may go on.
        case creditChanged(UInt32)
        /// The peer broke the channel's service rules (section 5.1): the machine has written this side's end
        /// (server: eof, `fail`, `close`; client: `close`); the local code stops. The connection goes on.
        case channelFailed(ProtocolError)
        /// The peer's `close` has arrived and this side's has been sent: the id is free.
        case closed
        /// A fatal connection error: write it as `error`, then close the connection.
        case fail(ProtocolError)
    }

    /// What a channel's local code receives.
    public enum Delivery: Sendable, Equatable {
        /// A data frame's payload on one of the channel's sub-streams; it is held until
        /// ``ChannelStateMachine/consumed(_:)``.
        case data(Frame.Stream, ByteBuffer)
        /// A message of the channel's service.
        case message(ChannelMessage)
        /// The peer sends no more data.
        case eof
    }

    /// The few actions one input produces, held inline.
    public typealias Actions = InlineActions<Action>
}
