import NIOCore
import NIOPosix
import PorterProtocol

/// The sending side of a transfer from async code (a client's upload, the classic ftp): the file is read a chunk
/// ahead of the network, on NIO's thread pool.
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
}
