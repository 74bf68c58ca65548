import Logging
import NIOCore
import NIOPosix
import PorterProtocol

/// Limits of the file service.
public struct FileConfiguration: Sendable {
    /// The most entries one `file.list` may return; a larger tree is refused with `limit-exceeded` rather than
    /// held in memory.
    public var maxListEntries: Int
    /// Bytes per data frame when sending a file; at most the protocol's data frame limit.
    public var chunkSize: Int
    /// Seconds an upload waits for a partial file that another transfer to the same name holds before it is
    /// refused as `file-busy`; the usual holder is a transfer whose client has just died.
    public var busyWait: Double

    /// Protocol version 2: uploads of one connection at a time that the server grants its largest window
    /// (`maxWindow`, announced in `welcome`); the others get `initialWindow`. This bounds what one connection's
    /// uploads can make the server hold (docs/design/protocol-2.md section 4.2).
    public var maxLargeWindows: Int

    /// Creates a configuration.
    public init(
        maxListEntries: Int = 100_000, chunkSize: Int = 1 << 20, busyWait: Double = 2, maxLargeWindows: Int = 4
    ) {
        self.maxListEntries = maxListEntries
        self.chunkSize = chunkSize
        self.busyWait = busyWait
        self.maxLargeWindows = maxLargeWindows
    }
}

/// Serves `file.*` requests: listings, downloads and uploads beneath the server's root.
///
/// Every path from the client is checked by ``PeerPath`` and then opened beneath the root by the kernel
/// (``ConfinedDirectory``). Files are read and written on NIO's thread pool, one chunk ahead of the network, and
/// hashed as they go: a download ends with the sender's digest, an upload is renamed into place only if the
/// client's digest matches (``IncomingFile``).
struct FileService: Sendable {
    let configuration: FileConfiguration
    let root: ConfinedDirectory

    typealias Frames = RequestInbox
    typealias Outbound = FrameOutbound

    /// Opens the root directory `root`.
    /// Where transfers in progress are registered for the status page and metrics.
    let activity: ServerActivity

    init(configuration: FileConfiguration, root: String, activity: ServerActivity) throws(PorterError) {
        self.configuration = configuration
        self.activity = activity
        do {
            self.root = try ConfinedDirectory(path: root)
        } catch {
            throw PorterError(.configuration, "root directory: \(error.message)")
        }
    }

    // MARK: - The service, for any front door

    /// What a listing found: what the path is, its entries (a directory's own first, as `"."`), and the names left
    /// out because they are not UTF-8.
    typealias Listing = (type: ControlMessage.FileType, entries: [ControlMessage.FileEntry], skipped: [String])

    /// Opens the file `request` names for sending and skips a prefix the client already has
    /// (``OutgoingFile/resume(at:prefix:)``): the file and where sending starts. Blocks: call it on the thread pool.
    func openForSending(_ request: ControlMessage.FileGet) throws(ProtocolError) -> (file: OutgoingFile, start: Int64) {
        let components = try PeerPath.components(of: request.path)
        let file = try OutgoingFile(in: root, components, algorithm: request.checksum ?? .default)
        return (file, try file.resume(at: request.offset ?? 0, prefix: request.prefix))
    }

    /// Opens the partial file of an upload (``IncomingFile``), kept for a resume if `request` asks, on the thread
    /// pool; a partial file another transfer holds is waited for up to ``FileConfiguration/busyWait`` with no
    /// thread held (``IncomingFile/open(in:_:size:resume:algorithm:busyWait:on:)``).
    func openForReceiving(_ request: ControlMessage.FilePut, on eventLoop: any EventLoop)
        -> EventLoopFuture<IncomingFile>
    {
        let components: [String]
        do {
            components = try PeerPath.components(of: request.path)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return IncomingFile.open(
            in: root, components, size: request.size, resume: request.resume == true,
            algorithm: request.checksum ?? .default, busyWait: TimeLimit.duration(seconds: configuration.busyWait),
            on: eventLoop)
    }

    /// Lists what `request` names, its whole tree if it asks, up to ``FileConfiguration/maxListEntries``. Blocks:
    /// call it on the thread pool.
    func list(_ request: ControlMessage.FileList) throws(ProtocolError) -> Listing {
        let components = try PeerPath.components(of: request.path)
        let walk = DirectoryWalk(limit: configuration.maxListEntries)
        let (type, entries, skipped) = try walk.list(root, components, recursive: request.recursive == true)
        return (type, entries, skipped)
    }

    /// Creates a directory or a symlink, or sets attributes; an unknown request is `unknown-request`. Blocks: call
    /// it on the thread pool.
    func change(_ request: ConnectionMessage.GlobalRequest.Request) throws(ProtocolError) {
        switch request {
        case .fileMkdir(let mkdir):
            try root.makeDirectory(try PeerPath.components(of: mkdir.path))
        case .fileSymlink(let link):
            try root.makeSymlink(try PeerPath.components(of: link.path), target: link.target)
        case .fileAttrs(let attributes):
            try root.setAttributes(
                try PeerPath.components(of: attributes.path), mode: attributes.mode, mtime: attributes.mtime)
        case .unknown(let name):
            throw ProtocolError(.unknownRequest, "this server has no global request '\(TerminalText.escaped(name))'")
        }
    }

    /// Runs `work` on the thread pool, its result on `eventLoop`.
    static func onPool<Result: Sendable>(
        _ eventLoop: any EventLoop, _ work: @escaping @Sendable () throws(ProtocolError) -> Result
    ) -> EventLoopFuture<Result> {
        NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { try work() }
    }

    // MARK: - Version 1

    /// Serves one file request. Refusals before any data moves are non-fatal `error`s; a failure while data
    /// moves is thrown, which ends the connection.
    func serve(
        _ request: ControlMessage, _ frames: Frames, _ outbound: Outbound, eventLoop: any EventLoop,
        logger: Logger
    ) async throws {
        do {
            switch request {
            case .fileList(let list): try await sendListing(list, outbound)
            case .fileGet(let get): try await send(get, outbound, eventLoop: eventLoop, logger: logger)
            case .filePut(let put): try await receive(put, frames, outbound, eventLoop: eventLoop, logger: logger)
            case .fileMkdir(let mkdir): try await change(.fileMkdir(mkdir), outbound)
            case .fileSymlink(let link): try await change(.fileSymlink(link), outbound)
            case .fileAttrs(let attributes): try await change(.fileAttrs(attributes), outbound)
            default:
                throw ProtocolError(.unexpectedMessage, "'\(request.type)' is not a file request")
            }
        } catch let refusal as Refusal {
            try await outbound.write(ControlMessage.error(.init(refusal.error, fatal: false)).frame)
        }
    }

    /// A request refused before any data moved: the connection goes on.
    private struct Refusal: Error {
        var error: ProtocolError
    }

    /// Runs `work` on the thread pool, turning its protocol errors into refusals.
    private func refusing<Result: Sendable>(
        _ work: @escaping @Sendable () throws -> Result
    ) async throws -> Result {
        do {
            return try await BlockingIO.run { try work() }
        } catch let error as ProtocolError {
            throw Refusal(error: error)
        }
    }

    private func sendListing(_ request: ControlMessage.FileList, _ outbound: Outbound) async throws {
        let (type, entries, skipped) = try await refusing { [self] in try list(request) }
        for batch in ControlMessage.FileListing.batches(type: type, entries: entries, skipped: skipped) {
            try await outbound.write(ControlMessage.fileListing(batch).frame)
        }
    }

    private func change(_ request: ConnectionMessage.GlobalRequest.Request, _ outbound: Outbound) async throws {
        try await refusing { [self] in try change(request) }
        try await outbound.write(ControlMessage.fileDone(.init()).frame)
    }

    private func send(
        _ request: ControlMessage.FileGet, _ outbound: Outbound, eventLoop: any EventLoop, logger: Logger
    ) async throws {
        let (file, offset) = try await refusing { [self] in try openForSending(request) }
        let entry = file.entry
        try await outbound.write(
            ControlMessage.fileHeader(.init(size: entry.size, offset: offset, mode: entry.mode, mtime: entry.mtime))
                .frame)
        let started = ContinuousClock.now
        let (transfer, ended) = activity.transferStarted(path: request.path, direction: "get", size: entry.size)
        var completed = false
        defer { ended(completed) }
        try await FileStreaming.send(file, chunkSize: configuration.chunkSize, eventLoop: eventLoop) { chunk, sent in
            try await outbound.write(.data(chunk))
            transfer.progress(to: sent)
        }
        try await outbound.write(ControlMessage.fileEnd(.init(digest: file.hex)).frame)
        completed = true
        Self.log("file sent", request.path, bytes: entry.size - offset, since: started, logger: logger)
    }

    private func receive(
        _ request: ControlMessage.FilePut, _ frames: Frames, _ outbound: Outbound, eventLoop: any EventLoop,
        logger: Logger
    ) async throws {
        let file: IncomingFile
        do {
            file = try await openForReceiving(request, on: eventLoop).get()
        } catch let error as ProtocolError {
            throw Refusal(error: error)
        }
        defer { file.close() }
        try await outbound.write(
            ControlMessage.fileReady(.init(offset: file.offered, prefix: file.offeredDigest)).frame)
        guard let first = try await frames.next() else { return }
        guard case .fileBegin(let begin) = try first.message() else {
            throw ProtocolError(.unexpectedMessage, "expected 'file.begin' after 'file.ready'")
        }
        try await BlockingIO.run { try file.begin(at: begin.offset) }
        let started = ContinuousClock.now
        let (transfer, ended) = activity.transferStarted(path: request.path, direction: "put", size: request.size)
        var completed = false
        defer { ended(completed) }
        let digest = try await FileStreaming.receive(
            into: file, size: request.size, eventLoop: eventLoop,
            progress: { transfer.progress(to: $0 - begin.offset) }, next: { try await frames.next() })
        do {
            try await BlockingIO.run { try file.finish(expected: digest, mode: request.mode, mtime: request.mtime) }
        } catch let error as ProtocolError {
            throw Refusal(error: error)
        }
        try await outbound.write(ControlMessage.fileDone(.init(size: request.size)).frame)
        completed = true
        Self.log("file received", request.path, bytes: request.size - begin.offset, since: started, logger: logger)
    }

    /// Logs a finished transfer.
    static func log(
        _ event: Logger.Message, _ path: String, bytes: Int64, since started: ContinuousClock.Instant, logger: Logger
    ) {
        let seconds = (ContinuousClock.now - started).seconds
        logger.info(event, metadata: ["file.path": "\(path)", "file.bytes": "\(bytes)", "file.seconds": "\(seconds)"])
    }
}

extension Duration {
    /// This duration in seconds.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
