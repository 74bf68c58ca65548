extension ChannelStateMachine {
    /// Why the machine will not send what local code asked for: nothing reaches the wire.
    public enum Refusal: Error, Sendable, Equatable {
        /// The channel has not been accepted yet (its child channel is inactive).
        case notAccepted
        /// This side has sent eof: no more data.
        case outputClosed
        /// This side has sent `close`, or the id is not in use.
        case closed
        /// Not this side's to send on this channel: a message or a stream of another service or direction,
        /// `accept` or `refuse` outside opening, a close before the server has answered.
        case notAllowed
        /// A client already has the server's `maxChannels` channels in use.
        case tooManyChannels
        /// A client: the server announced `shutdown`, so no more channels are opened (section 4.5).
        case shuttingDown
    }
}
