import PorterProtocol

/// The messages that belong to the connection rather than to a request: `keepalive` and `ping`. They are legal at
/// every point after authentication, and this is the one rule that handles them, used wherever the connection
/// reads a frame — by ``ConnectionDispatcher`` while the connection is idle, and by ``RequestInbox`` in the middle
/// of a request, in the order the frames came — so no request's code ever sees one.
enum ConnectionMessages {
    /// Handles `frame` if it belongs to the connection: a keepalive needs nothing (it has already reset the idle
    /// timer), a ping's answer goes to `answer`. Returns `false` for a request's frame, which the caller passes on.
    static func handled(_ frame: Frame, answer: (Frame) -> Void) -> Bool {
        // A malformed control frame is a request's error, reported where requests are read.
        guard frame.kind == .control, let message = try? ControlMessage(frame: frame) else { return false }
        switch message {
        case .keepalive:
            return true
        case .ping(let ping):
            answer(ControlMessage.pong(ping).frame)
            return true
        default:
            return false
        }
    }
}
