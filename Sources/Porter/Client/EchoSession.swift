import NIOCore
import PorterProtocol

/// Echo mode on a connection, started by ``ClientConnection/echo()``.
///
/// Sending and receiving may run in different tasks: hand ``sender`` to the task that sends, and call
/// ``receive()`` from the one that reads. Answers come back in the order the messages were sent.
public final class EchoSession {
    /// Sends messages; safe to use from another task.
    public let sender: EchoSender
    private let connection: ClientConnection

    init(connection: ClientConnection) {
        self.connection = connection
        self.sender = EchoSender(
            writer: connection.writer,
            maxMessage: connection.welcome.limits.maxDataPayload
        )
    }

    /// The next answer, or `nil` once the server has answered everything before ``EchoSender/finish()``.
    public func receive() async throws -> ByteBuffer? {
        let frame = try await connection.frames.next()
        if frame.kind == .data { return frame.payload }
        switch try connection.frames.message(in: frame) {
        case .end: return nil
        case .error(let body): throw PorterError(remote: body)
        case let other: throw PorterError(.protocolViolation, "unexpected \(other.type) from the server during echo")
        }
    }

    /// Sends `message` and waits for its answer; only when no other messages are outstanding.
    public func roundTrip(_ message: ByteBuffer) async throws -> ByteBuffer {
        try await sender.send(message)
        guard let answer = try await receive() else {
            throw PorterError(.protocolViolation, "the server ended echo mode unasked")
        }
        return answer
    }
}

/// The sending half of an ``EchoSession``.
public struct EchoSender: Sendable {
    let writer: FrameWriter
    /// The longest message the server accepts, in bytes.
    public let maxMessage: Int

    /// Sends one message.
    ///
    /// - Throws: ``PorterError`` if `message` is longer than ``maxMessage``.
    public func send(_ message: ByteBuffer) async throws {
        guard message.readableBytes <= maxMessage else {
            throw PorterError(
                .configuration,
                "message of \(message.readableBytes) bytes exceeds the server's limit of \(maxMessage) bytes")
        }
        try await writer.send(.data(message))
    }

    /// Ends echo mode once every message sent so far is answered.
    public func finish() async throws {
        try await writer.send(ControlMessage.end)
    }

    /// Gives up: closes the connection, so that a pending ``EchoSession/receive()`` fails at once.
    public func abort() {
        writer.close()
    }
}
