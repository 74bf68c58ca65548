import NIOCore
import PorterProtocol

/// Where the task serving a connection's requests writes its frames.
///
/// A write returns once the frame has been handed to the socket, so a writer never runs ahead of a slow client
/// by more than the frame it is writing; several tasks (a command's output streams) may write at once. A cancelled
/// task writes nothing more.
struct FrameOutbound: Sendable {
    let channel: any Channel

    /// Writes and flushes `frame`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled, or the channel's error.
    func write(_ frame: Frame) async throws {
        try Task.checkCancellation()
        try await channel.writeAndFlush(frame)
    }
}
