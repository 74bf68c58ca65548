import NIOCore
import PorterProtocol

/// What a channel's pipeline reads and writes: data on one of the channel's sub-streams, or a message of
/// its service. The peer's eof arrives as `ChannelEvent.inputClosed`, its close as the channel going inactive;
/// this side's eof is `close(mode: .output)`, its close `close()`.
public enum ChannelContent: Sendable, Equatable {
    /// Bytes on a sub-stream (exec: 0 standard input, 1 output, 2 errors; every other service: 0).
    case data(Frame.Stream, ByteBuffer)
    /// A message of the channel's service (`exec.exit`, `done`, `fail`, a request, an event).
    case message(ChannelMessage)
}
