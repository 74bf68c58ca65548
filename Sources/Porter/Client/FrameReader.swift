import NIOCore
import PorterProtocol
import Synchronization

/// Reads frames from the server for one version 1 connection, turning failures into ``PorterError``s.
///
/// Version 1 runs one request at a time, so one task reads at a time: whoever is reading the connection's
/// answers. A second task that tries while one reads is refused, which keeps the connection safe to share.
///
/// `@unchecked Sendable`: `iterator`, the only mutable state, is touched only inside ``next()`` by the one task
/// that won `reading`'s compare-and-exchange; every other task is refused before it touches it.
final class FrameReader: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    /// A task is reading the next frame.
    private let reading = Atomic<Bool>(false)

    init(_ iterator: NIOAsyncChannelInboundStream<Frame>.AsyncIterator) {
        self.iterator = iterator
    }

    /// The next frame.
    ///
    /// - Throws: ``PorterError`` when the connection closes or the server sends a malformed frame.
    func next() async throws -> Frame {
        guard reading.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw PorterError(
                .configuration, "protocol version 1 runs one request at a time on a connection; use version 2")
        }
        defer { reading.store(false, ordering: .releasing) }
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
