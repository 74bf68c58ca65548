extension PorterChildChannel {
    /// What the peer sent on the channel and the pipeline has not read yet, in the order it arrived.
    enum Inbound {
        /// Data or a message, delivered as a channel read.
        case content(ChannelContent)
        /// The peer's eof: `ChannelEvent.inputClosed`, or a close when remote half-closure is not allowed.
        case eof
    }
}
