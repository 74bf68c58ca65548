import NIOCore
import PorterProtocol

/// Reads frames from the server for one connection, turning failures into ``PorterError``s.
///
/// Used by one task at a time: whoever is reading the connection's answers.
final class FrameReader {
    private var iterator: NIOAsyncChannelInboundStream<Frame>.AsyncIterator

    init(_ iterator: NIOAsyncChannelInboundStream<Frame>.AsyncIterator) {
        self.iterator = iterator
    }

    /// The next frame.
    ///
    /// - Throws: ``PorterError`` when the connection closes or the server sends a malformed frame.
    func next() async throws -> Frame {
        let frame: Frame?
        do {
            frame = try await iterator.next()
        } catch let error as ProtocolError {
            throw PorterError(.protocolViolation, "bad frame from the server: \(error.message)", code: error.code)
        } catch {
            throw PorterError(.connection, "connection lost: \(PorterClient.describe(error))")
        }
        guard let frame else { throw PorterError(.connection, "the server closed the connection") }
        return frame
    }

    /// The next control message; a fatal `error` from the server is thrown unless `allowingErrors`.
    func nextMessage(allowingErrors: Bool = false) async throws -> ControlMessage {
        let message = try await message(in: next())
        if !allowingErrors, case .error(let body) = message { throw PorterError(remote: body) }
        return message
    }

    /// The control message in `frame`, which must be a control frame.
    func message(in frame: Frame) throws(PorterError) -> ControlMessage {
        do {
            return try ControlMessage(frame: frame)
        } catch {
            throw PorterError(.protocolViolation, "bad message from the server: \(error.message)", code: error.code)
        }
    }
}
