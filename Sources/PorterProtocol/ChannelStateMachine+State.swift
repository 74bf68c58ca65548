extension ChannelStateMachine {
    /// Where a channel is in its life (docs/PROTOCOL.md section 5.3), on one side.
    public enum State: Sendable, Equatable {
        /// Client: `open` sent; server: `open` received, decision pending.
        case opening
        /// Accepted; neither side has sent eof.
        case open
        /// This side has sent eof; the peer has not.
        case sentEOF
        /// The peer has sent eof; this side has not.
        case gotEOF
        /// Both sides have sent eof.
        case bothEOF
        /// This side has sent `close` and discards everything until the peer's.
        case closing
        /// Refused, or `close` both sent and received: the id is free.
        case free
    }
}
