import NIOCore
import NIOPosix
import PorterProtocol

/// An upload on a channel (`file.put`, docs/PROTOCOL.md section 5.4.3): after the client's `file.begin`,
/// writes the data of stream 0 into the partial file, and on `file.end` verifies the digest, flushes and renames
/// the file into place, then sends `done {size}`; `fail` `digest-mismatch` (the partial file is deleted),
/// `bad-request` or `file-error` otherwise. A client that closes first leaves the partial file for a resume.
///
/// Every file operation runs on NIO's thread pool, one after another in the order the frames came. The channel's
/// data counts as consumed (``PorterChildChannel/Consumption/reported``) only once it is written, so the client's
/// credit is renewed at the disk's pace, and what the server holds for an upload, queued for the disk or not yet
/// read, stays within the window it granted.
final class FileReceiver: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    private let file: IncomingFile
    private let request: ControlMessage.FilePut
    private let reporting: FileSender.Reporting
    /// Where the data starts, once `file.begin` has come.
    private var offset: Int64?
    /// Bytes of the file from 0, written or on their way.
    private var received: Int64 = 0
    /// The last file operation asked for; the next runs after it.
    private var last: EventLoopFuture<Void>?
    /// The result is sent, or the channel closed: nothing more happens.
    private var finished = false
    /// `file.end` has come: anything after it is ignored, so the file is finished once.
    private var ended = false
    /// Whether the file may still take its name: not once the channel has closed.
    private let commit: UploadCommit

    /// Receives `request` into `file`; `commit` is the channel's (``PorterChildChannel/upload``).
    init(file: IncomingFile, request: ControlMessage.FilePut, reporting: FileSender.Reporting, commit: UploadCommit) {
        self.file = file
        self.request = request
        self.reporting = reporting
        self.commit = commit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished, !ended else { return }
        switch unwrapInboundIn(data) {
        case .data(_, let bytes):
            guard let offset else {
                fail(ProtocolError(.badRequest, "file data before 'file.begin'"), context: context)
                return
            }
            received += Int64(bytes.readableBytes)
            guard received <= request.size else {
                fail(
                    ProtocolError(.badRequest, "file data beyond the announced size of \(request.size) bytes"),
                    context: context)
                return
            }
            let file = self.file
            let progress = received - offset
            run(context: context) {
                try file.write(bytes)
            } then: { [self] in
                reporting.progress(progress)
                context.triggerUserOutboundEvent(PorterChildChannel.Consumed(bytes: bytes.readableBytes), promise: nil)
            }
        case .message(.fileBegin(let begin)):
            guard offset == nil else {
                fail(ProtocolError(.badRequest, "a second 'file.begin'"), context: context)
                return
            }
            offset = begin.offset
            received = begin.offset
            let file = self.file
            run(context: context) {
                try file.begin(at: begin.offset)
            } then: {
            }
        case .message(.fileEnd(let end)):
            guard offset != nil, received == request.size else {
                fail(
                    ProtocolError(
                        .badRequest,
                        offset == nil
                            ? "'file.end' before 'file.begin'"
                            : "'file.end' after \(received) of \(request.size) bytes"),
                    context: context)
                return
            }
            ended = true
            let (file, request, commit) = (self.file, self.request, self.commit)
            run(context: context) {
                try file.finish(expected: end.digest, mode: request.mode, mtime: request.mtime, commit: commit)
            } then: { [self] in
                finished = true
                reporting.ended(true)
                context.finishChannel(with: .done(.filePut(.init(size: request.size))))
            }
        case .message:
            // The state machine lets no other message of the client's reach a file.put channel.
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client's eof ends the data; `file.end` follows it.
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Set here so that no data is delivered before it holds; a closed channel refuses the option, and the
        // channel's close then removes this handler.
        try? context.channel.syncOptions?.setOption(PorterChildChannel.ConsumptionOption(), value: .reported)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client closed before hearing `done`: the file does not take its name, unless its rename has begun.
        if !finished {
            finished = true
            reporting.ended(!commit.abandon() && commit.isInPlace)
        }
        context.fireChannelInactive()
    }

    /// The channel closed, before the transfer ended or after: the partial file stays for a resume, and is
    /// closed after whatever operation is under way.
    func handlerRemoved(context: ChannelHandlerContext) {
        if !finished {
            finished = true
            reporting.ended(false)
        }
        let file = self.file
        (last ?? context.eventLoop.makeSucceededVoidFuture()).whenComplete { _ in file.close() }
    }

    /// Runs `work` on the thread pool after the operations before it, then `then` on the event loop; a failure
    /// ends the channel with `fail`.
    private func run(
        context: ChannelHandlerContext, _ work: @escaping @Sendable () throws -> Void,
        then: @escaping () -> Void
    ) {
        let eventLoop = context.eventLoop
        let before = last ?? eventLoop.makeSucceededVoidFuture()
        let done = before.flatMap {
            NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { try work() }
        }
        last = done
        done.assumeIsolated().whenComplete { [self] result in
            guard !finished else { return }
            switch result {
            case .success:
                then()
            case .failure(let error):
                fail(
                    error as? ProtocolError ?? ProtocolError(.fileError, "the file could not be written"),
                    context: context)
            }
        }
    }

    private func fail(_ error: ProtocolError, context: ChannelHandlerContext) {
        finished = true
        reporting.ended(false)
        context.finishChannel(with: .fail(error))
    }
}
