import PorterProtocol

extension PorterChildChannel {
    /// Where a child channel is in its life, as its pipeline sees it.
    enum Lifecycle {
        /// Created and registered; the channel is not accepted yet (or its service has not accepted it).
        case registered
        /// Accepted: reads and writes flow.
        case active
        /// Closed by either side, or the connection ended. Nothing flows any more.
        case closed
    }

    /// An outbound user event that ends this side of the channel in one go: its eof behind what was written (unless
    /// output is closed already), then `result`, then its close. The three are handed to the multiplexer together,
    /// once what is ahead of them has been, and leave in one flush of the connection, where closing after each
    /// write had completed took three.
    struct Finish: Sendable {
        let result: ChannelMessage
    }
}
