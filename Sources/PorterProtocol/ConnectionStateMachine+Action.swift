import NIOCore

extension ConnectionStateMachine {
    /// What the connection must do after an input, in the order given.
    public enum Action: Sendable, Equatable {
        /// Write this message to the client.
        case write(ControlMessage)
        /// `ready` has been written (the action before): the client is authenticated with this protocol version.
        case authenticated(version: Int)
        /// A frame of a request, for the request layer, with its control message decoded once.
        case deliver(DeliveredFrame)
        /// Call ``ConnectionStateMachine/deadlineReached(now:)`` at this instant, instead of any timer asked for
        /// before.
        case scheduleTimer(at: NIODeadline)
        /// The timer asked for before is no longer needed.
        case cancelTimer
        /// Write this error as a fatal `error` message, then close; the machine reads nothing more.
        case fail(ProtocolError)
    }
}
