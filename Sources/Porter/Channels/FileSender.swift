import Logging
import NIOCore
import NIOPosix
import PorterProtocol

/// A download on a channel (`file.get`, docs/PROTOCOL.md section 5.4.2): sends the file's bytes from where
/// the transfer starts on stream 0, then eof, `done {digest}` and close; `fail` `file-error` if reading fails or the
/// file shrinks.
///
/// It reads one chunk ahead on NIO's thread pool: a chunk read is written at once while the channel is writable
/// (the client's credit and the connection allow it), and the next read starts as it is written. While the channel
/// is not writable the chunk waits here, so what the server holds for a download is its window plus one chunk.
final class FileSender: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    /// What a transfer reports as it goes: the bytes sent so far, then whether it completed.
    struct Reporting {
        let progress: (Int64) -> Void
        let ended: (Bool) -> Void
    }

    private let file: OutgoingFile
    private let chunkSize: Int
    private let reporting: Reporting
    /// A chunk read while the channel was not writable.
    private var waiting: ByteBuffer?
    /// Bytes handed to the channel, from the start of the transfer.
    private var sent: Int64 = 0
    /// The result is sent, or the channel closed: nothing more happens.
    private var finished = false

    init(file: OutgoingFile, chunkSize: Int, reporting: Reporting) {
        self.file = file
        self.chunkSize = chunkSize
        self.reporting = reporting
    }

    func channelActive(context: ChannelHandlerContext) {
        readNext(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The state machine lets no data or message of the client's reach a file.get channel.
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client's eof (it sends nothing more) changes nothing: the file still goes out.
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let chunk = waiting {
            waiting = nil
            write(chunk, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// The channel closed, before the transfer ended or after (the file closes with this handler).
    func handlerRemoved(context: ChannelHandlerContext) {
        if !finished {
            finished = true
            reporting.ended(false)
        }
    }

    /// Reads the next chunk on the thread pool. The file is not touched here until that read completes.
    private func readNext(context: ChannelHandlerContext) {
        let file = self.file
        let chunkSize = self.chunkSize
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { try file.read(upTo: chunkSize) }
            .assumeIsolated().whenComplete { [self] result in
                guard !finished else { return }
                switch result {
                case .success(.some(let chunk)):
                    if context.channel.isWritable { write(chunk, context: context) } else { waiting = chunk }
                case .success(.none):
                    finish(.done(.fileGet(.init(digest: file.hex))), completed: true, context: context)
                case .failure(let error):
                    let failure =
                        error as? ProtocolError ?? ProtocolError(.fileError, "the file could not be read")
                    finish(.fail(failure), completed: false, context: context)
                }
            }
    }

    private func write(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        sent += Int64(chunk.readableBytes)
        context.writeAndFlush(wrapOutboundOut(.data(.main, chunk)), promise: nil)
        reporting.progress(sent)
        readNext(context: context)
    }

    private func finish(_ result: ChannelMessage, completed: Bool, context: ChannelHandlerContext) {
        finished = true
        reporting.ended(completed)
        context.finishChannel(with: result)
    }
}
