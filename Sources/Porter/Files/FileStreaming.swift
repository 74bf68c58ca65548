import NIOCore
import NIOPosix
import PorterProtocol

/// The data phase of a transfer, the same on both ends: the sender reads a chunk ahead of the network, the
/// receiver writes one chunk behind it, both on NIO's thread pool.
enum FileStreaming {
    /// Reads `file` to its end and hands each chunk to `write` with the bytes handed over so far, this chunk
    /// included, the next read already under way. `write` must not look at `file`, which is being read on
    /// another thread meanwhile.
    static func send(
        _ file: OutgoingFile, chunkSize: Int, eventLoop: any EventLoop,
        _ write: (_ chunk: ByteBuffer, _ sent: Int64) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool.singleton
        var sent: Int64 = 0
        var next = pool.runIfActive(eventLoop: eventLoop) { try file.read(upTo: chunkSize) }
        while let chunk = try await next.get() {
            next = pool.runIfActive(eventLoop: eventLoop) { try file.read(upTo: chunkSize) }
            sent += Int64(chunk.readableBytes)
            try await write(chunk, sent)
        }
    }

    /// Writes the data frames that `next` returns into `file` until `file.end`, checking that exactly `size`
    /// bytes arrive in all; returns the sender's digest. Control frames come decoded (``DeliveredFrame``).
    ///
    /// - Parameter progress: told the number of bytes in the file so far, after each chunk.
    static func receive(
        into file: IncomingFile, size: Int64, eventLoop: any EventLoop,
        progress: (Int64) -> Void = { _ in },
        next: () async throws -> DeliveredFrame?
    ) async throws -> String {
        let pool = NIOThreadPool.singleton
        var pending: EventLoopFuture<Void>?
        var received = file.written
        while let delivered = try await next() {
            let frame = delivered.frame
            if frame.kind == .data {
                received += Int64(frame.payload.readableBytes)
                guard frame.stream == .main, received <= size else {
                    throw ProtocolError(.badRequest, "file data beyond the announced size of \(size) bytes")
                }
                try await pending?.get()
                let payload = frame.payload
                pending = pool.runIfActive(eventLoop: eventLoop) { try file.write(payload) }
                progress(received)
                continue
            }
            switch try delivered.message() {
            case .fileEnd(let end):
                try await pending?.get()
                guard received == size else {
                    throw ProtocolError(.badRequest, "file ended after \(received) of \(size) bytes")
                }
                return end.digest
            case .error(let body):
                throw PorterError(remote: body)
            case let other:
                throw ProtocolError(.unexpectedMessage, "'\(other.type)' in the middle of a file's data")
            }
        }
        throw PorterError(.connection, "the connection closed in the middle of a file")
    }
}
