import NIOCore
import PorterProtocol

/// Sends frames to the server for one connection, turning failures into ``PorterError``s. Safe to share between
/// tasks.
struct FrameWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<Frame>
    let channel: any Channel

    /// Sends `frame`.
    func send(_ frame: Frame) async throws(PorterError) {
        do {
            try await outbound.write(frame)
        } catch {
            throw PorterError(.connection, "connection lost: \(PorterClient.describe(error))")
        }
    }

    /// Sends `message` in a control frame, after checking its numbers against the ranges the server checks
    /// (``ControlMessage/validate()``), so that an absurd value is the caller's error, not the connection's.
    func send(_ message: ControlMessage) async throws(PorterError) {
        do {
            try message.validate()
        } catch {
            throw PorterError(.configuration, "cannot send '\(message.type)': \(error.message)")
        }
        try await send(message.frame)
    }

    /// Closes the connection at once.
    func close() {
        channel.close(promise: nil)
    }
}
