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

    /// Uploads of one connection at a time that the server grants its largest window
    /// (`maxWindow`, announced in `welcome`); the others get `initialWindow`. This bounds what one connection's
    /// uploads can make the server hold (docs/PROTOCOL.md section 4.2).
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
    private(set) var root: ConfinedDirectory

    /// Where transfers in progress are registered for the status page and metrics.
    let activity: ServerActivity

    /// Opens the root directory `root`.
    init(configuration: FileConfiguration, root: String, activity: ServerActivity) throws(PorterError) {
        self.configuration = configuration
        self.activity = activity
        do {
            self.root = try ConfinedDirectory(path: root)
        } catch {
            throw PorterError(.configuration, "root directory: \(error.message)")
        }
    }

    /// The same service with its root moved to `components` beneath this one's (a key's `porter-root`).
    ///
    /// - Throws: ``ProtocolError`` when that directory cannot be opened beneath the root.
    func confined(to components: [String]) throws(ProtocolError) -> FileService {
        var confined = self
        confined.root = try ConfinedDirectory(beneath: root, components)
        return confined
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
