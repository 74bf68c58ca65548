import Logging
import NIOCore
import PorterProtocol

/// The file service on channels (docs/PROTOCOL.md sections 4.4 and 5.4.2–5.4.4): each open is decided on
/// the thread pool (the path checked and opened beneath the root), and the data then moves in handlers on the event
/// loop: ``FileSender``, ``FileReceiver``, ``ListingSender``.
extension ChannelServices {
    /// A global request: `file.mkdir`, `file.symlink`, `file.attrs`, on the thread pool; any other is
    /// `unknown-request`.
    func global(_ request: ConnectionMessage.GlobalRequest.Request, on eventLoop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        if let refusal = scope?.refusal(toRun: request) { return eventLoop.makeFailedFuture(refusal) }
        let files = self.files
        return FileService.onPool(eventLoop) { () throws(ProtocolError) in try files.change(request) }
    }

    /// `file.get`: opens the file, skipping a prefix the client has, and sends it.
    func sendFile(_ request: ControlMessage.FileGet, on child: PorterChildChannel)
        -> EventLoopFuture<ChannelMessage.Accept>
    {
        let files = self.files
        let logger = connection.logger
        return FileService.onPool(child.eventLoop) { () throws(ProtocolError) in try files.openForSending(request) }
            .flatMapThrowing { file, start in
                let entry = file.entry
                let reporting = Self.reporting(
                    "file sent", request.path, direction: "get", size: entry.size,
                    files: files, logger: logger)
                try Self.start(
                    FileSender(file: file, chunkSize: files.configuration.chunkSize, reporting: reporting),
                    on: child
                ) { reporting.ended(false) }
                let header = ControlMessage.FileHeader(
                    size: entry.size, offset: start, mode: entry.mode, mtime: entry.mtime)
                return ChannelMessage.Accept(window: 0, details: .fileGet(header))
            }
    }

    /// `file.put`: opens the partial file and receives into it. The accept grants `maxWindow` while fewer than
    /// ``FileConfiguration/maxLargeWindows`` uploads of the connection hold it, else `initialWindow`.
    func receiveFile(_ request: ControlMessage.FilePut, on child: PorterChildChannel, limits: ChannelLimits)
        -> EventLoopFuture<ChannelMessage.Accept>
    {
        let files = self.files
        let logger = connection.logger
        let largeWindows = self.largeWindows
        return files.openForReceiving(request, on: child.eventLoop)
            .flatMapThrowing { file in
                var window = limits.initialWindow
                if largeWindows.value < files.configuration.maxLargeWindows {
                    largeWindows.value += 1
                    window = limits.maxWindow
                    child.closeFuture.whenComplete { _ in largeWindows.value -= 1 }
                }
                let reporting = Self.reporting(
                    "file received", request.path, direction: "put", size: request.size,
                    files: files, logger: logger)
                let commit = UploadCommit()
                child.upload = commit
                try Self.start(
                    FileReceiver(file: file, request: request, reporting: reporting, commit: commit), on: child
                ) {
                    reporting.ended(false)
                    file.close()
                }
                return ChannelMessage.Accept(
                    window: window, details: .filePut(.init(offset: file.offered, prefix: file.offeredDigest)))
            }
    }

    /// `file.list`: lists the path and cuts the listing to the client's `maxControlPayload` on the thread pool,
    /// then sends it.
    func sendListing(_ request: ControlMessage.FileList, on child: PorterChildChannel, maxPayload: Int)
        -> EventLoopFuture<ChannelMessage.Accept>
    {
        let files = self.files
        return FileService.onPool(child.eventLoop) { () throws(ProtocolError) in
            ListingSender.Messages(try files.list(request), maxPayload: maxPayload)
        }
        .flatMapThrowing { messages in
            try Self.start(ListingSender(messages), on: child) {}
            return ChannelMessage.Accept(window: 0, details: .fileList(kind: messages.kind))
        }
    }

    /// Adds `handler` to the channel, which lets the client send eof and still hear the result (every service's
    /// channel does). If the channel has
    /// closed meanwhile (the client gave up, or the connection ended, while the open was decided), runs `undo`
    /// (the transfer ended, the file closed) and throws: the handler, never added, cannot.
    static func start(
        _ handler: some ChannelHandler, on child: PorterChildChannel, undo: () -> Void
    ) throws {
        do {
            try child.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            try child.pipeline.syncOperations.addHandler(handler)
        } catch {
            undo()
            throw error
        }
    }

    /// What a transfer of `path` reports: its progress on the status page and in the metrics, and a log line
    /// when it completes.
    private static func reporting(
        _ event: Logger.Message, _ path: String, direction: String, size: Int64, files: FileService, logger: Logger
    ) -> FileSender.Reporting {
        let (transfer, ended) = files.activity.transferStarted(path: path, direction: direction, size: size)
        let started = ContinuousClock.now
        var moved: Int64 = 0
        return FileSender.Reporting(
            progress: { bytes in
                moved = bytes
                transfer.progress(to: bytes)
            },
            ended: { completed in
                ended(completed)
                if completed {
                    FileService.log(event, path, bytes: moved, since: started, logger: logger)
                }
            })
    }
}
