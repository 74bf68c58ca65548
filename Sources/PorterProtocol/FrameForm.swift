/// Which header a connection's frames carry (see ``Frame`` for the layout).
///
/// Every connection starts in the handshake form, which never changes between versions: `hello`, `welcome` and
/// any error sent instead of them use it. Both directions switch to the channel form at the first byte after
/// `welcome`.
public enum FrameForm: Sendable, Hashable {
    /// Six bytes: kind, stream, payload length. Kinds control and data only.
    case handshake
    /// Ten bytes: the six of the handshake form, then the channel id. Every kind.
    case channels

    /// The number of bytes in a header of this form.
    public var headerLength: Int {
        switch self {
        case .handshake: Frame.headerLength
        case .channels: Frame.channelHeaderLength
        }
    }
}
