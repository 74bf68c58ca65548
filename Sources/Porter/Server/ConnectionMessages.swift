import PorterProtocol

/// The messages that belong to the connection rather than to a request: `keepalive` and `ping`. They are legal at
/// every point after authentication, and this is the one rule that handles them, used wherever the connection
/// reads a frame — by ``ConnectionDispatcher`` while the connection is idle, and by ``RequestInbox`` in the middle
/// of a request, in the order the frames came — so no request's code ever sees one.
enum ConnectionMessages {
    /// What to do with a frame the client sent.
    enum Handling: Equatable {
        /// A request's frame: pass it on.
        case request
        /// A keepalive: nothing (it has already reset the idle timer).
        case ignore
        /// A ping: send this answer.
        case answer(Frame)
    }

    /// How `frame` is handled.
    static func handling(of frame: Frame) -> Handling {
        // A malformed control frame is a request's error, reported where requests are read.
        guard frame.kind == .control, let message = try? ControlMessage(frame: frame) else { return .request }
        switch message {
        case .keepalive: return .ignore
        case .ping(let ping): return .answer(ControlMessage.pong(ping).frame)
        default: return .request
        }
    }
}
