import NIOCore
import PorterProtocol

/// Echo mode on a connection, started by ``ClientConnection/echo()``.
///
/// Sending and receiving may run in different tasks: hand ``sender`` to the task that sends, and call
/// ``receive()`` from the one that reads. Answers come back in the order the messages were sent.
///
/// The session is an `echo` channel: other channels of the connection go on beside it, and the server holds no
/// more of its answers than the channel's window.
public final class EchoSession {
    /// Sends messages; safe to use from another task.
    public let sender: EchoSender
    private let channel: ClientChannel
    private var ended = false

    /// The session on an accepted `echo` channel.
    init(channel: ClientChannel, maxMessage: Int) {
        self.channel = channel
        self.sender = EchoSender(channel: channel, maxMessage: maxMessage)
    }

    deinit {
        // A session given up halfway does not keep its channel.
        channel.close()
    }

    /// The next answer, or `nil` once the server has answered everything before ``EchoSender/finish()``: answers
    /// until the server's eof, then its `done`, then the end of the channel.
    public func receive() async throws -> ByteBuffer? {
        guard !ended else { return nil }
        var sawEOF = false
        while true {
            let next = try await channel.receive()
            switch next {
            case .data(_, let bytes) where !sawEOF:
                return bytes
            case .eof:
                sawEOF = true
            case .message(.done) where sawEOF:
                ended = true
                return nil
            case .message(.fail(let error)):
                throw PorterError(.refused, "server: \(TerminalText.escaped(error.message))", code: error.code)
            case nil:
                throw PorterError(.connection, "the server closed the echo channel before it was done")
            case let other?:
                throw PorterError(.protocolViolation, "unexpected \(other) from the server on an echo channel")
            }
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
    let channel: ClientChannel
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
        do {
            // Waits while the server's credit or the connection holds writes back.
            try await channel.write(.data(.main, message))
        } catch {
            throw ClientChannels.porterError(error)
        }
    }

    /// Ends the session (sends the channel's eof) once every message sent so far is answered.
    public func finish() async throws {
        do {
            try await channel.finish()
        } catch {
            throw ClientChannels.porterError(error)
        }
    }

    /// Gives up: closes the channel, so that a pending ``EchoSession/receive()`` fails at once.
    public func abort() {
        channel.close()
    }
}
