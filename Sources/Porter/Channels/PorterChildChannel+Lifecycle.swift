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
}
