/// A frame of a request as the connection hands it on: a control frame comes with its message already decoded,
/// so that the request's code never decodes it a second time.
public struct DeliveredFrame: Sendable, Equatable {
    /// The frame as it arrived.
    public var frame: Frame
    /// For a control frame, its message or why it could not be decoded; `nil` for a data frame.
    public var decoded: Result<ControlMessage, ProtocolError>?

    /// A frame and, for a control frame, the outcome of decoding it.
    public init(_ frame: Frame, decoded: Result<ControlMessage, ProtocolError>?) {
        self.frame = frame
        self.decoded = decoded
    }

    /// A frame not yet decoded: a control frame is decoded now.
    public init(_ frame: Frame) {
        self.frame = frame
        guard frame.kind == .control else {
            self.decoded = nil
            return
        }
        do {
            self.decoded = .success(try ControlMessage(frame: frame))
        } catch {
            self.decoded = .failure(error)
        }
    }

    /// The frame's control message.
    ///
    /// - Throws: why the control message could not be decoded, or `unexpected-message` for a data frame.
    public func message() throws(ProtocolError) -> ControlMessage {
        if let decoded { return try decoded.get() }
        return try ControlMessage(frame: frame)
    }
}
