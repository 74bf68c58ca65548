import NIOCore
import PorterProtocol

/// What a channel brings in, as async code reads it (``ClientChannel/next()``): data, a message of the
/// channel's service, or the peer's eof, in the order they arrived; the sequence ends at the peer's close.
///
/// The eof is a value rather than the end of the sequence because a service's result comes after it (`done`,
/// `exec.exit`); a NIO handler sees the same eof as `ChannelEvent.inputClosed`.
public enum ChannelInput: Sendable, Equatable {
    /// Bytes on a sub-stream (exec: 1 output, 2 errors; every other service: 0).
    case data(Frame.Stream, ByteBuffer)
    /// A message of the channel's service.
    case message(ChannelMessage)
    /// The peer sends no more data; messages may follow.
    case eof
}
