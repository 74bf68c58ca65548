import NIOCore
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// How a transfer goes.
public struct TransferOptions: Sendable {
    /// Continue an interrupted transfer: the part already there is verified by digest, then only the rest moves.
    public var resume: Bool
    /// The digest that verifies each file end to end; XXH3-128 unless SHA-256 is asked for.
    public var checksum: ControlMessage.Checksum
    /// Told how each file progresses, from the task doing the transfer.
    public var progress: (@Sendable (TransferProgress) -> Void)?

    /// Creates options.
    public init(
        resume: Bool = false, checksum: ControlMessage.Checksum = .default,
        progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) {
        self.resume = resume
        self.checksum = checksum
        self.progress = progress
    }
}

/// Where one file of a transfer stands.
public struct TransferProgress: Sendable {
    /// The file: its path within the tree, or its name.
    public var path: String
    /// Bytes of the file in place so far, a resumed prefix included.
    public var bytes: Int64
    /// The file's size.
    public var size: Int64
    /// Bytes that were already there when the transfer resumed.
    public var resumedFrom: Int64
    /// Whether the file is complete and verified.
    public var finished: Bool
    /// Once ``finished``: the file's digest, as `xxh128sum` or `sha256sum` prints it.
    public var digest: String?
    /// The file's permission bits, which the copy gets.
    public var mode: UInt32
    /// The file's modification time, which the copy gets.
    public var mtime: ControlMessage.FileTime
}

/// What a transfer did.
public struct TransferSummary: Sendable {
    /// Files transferred and verified.
    public var files = 0
    /// Directories created or filled.
    public var directories = 0
    /// Symlinks created.
    public var symlinks = 0
    /// Bytes that crossed the network (resumed prefixes not counted).
    public var bytesSent: Int64 = 0
    /// Total size of the files transferred.
    public var bytes: Int64 = 0
    /// The digest of the last file, as `xxh128sum` or `sha256sum` prints it.
    public var digest: String?
    /// The algorithm of ``digest``.
    public var checksum: ControlMessage.Checksum = .default
    /// Entries left out, one line each, with the reason (names escaped for a terminal).
    public var skipped: [String] = []

    /// Counts a file of `size` bytes transferred and verified, of which the first `resumedFrom` were already there.
    mutating func add(size: Int64, resumedFrom: Int64, digest: String, checksum: ControlMessage.Checksum) {
        files += 1
        bytes += size
        bytesSent += size - resumedFrom
        self.digest = digest
        self.checksum = checksum
    }
}

extension TransferOptions {
    /// What reports the progress of one file: called with the bytes in place and, once finished, its digest.
    func reporter(
        _ shown: String, size: Int64, resumedFrom: Int64, mode: UInt32, mtime: ControlMessage.FileTime
    ) -> (_ bytes: Int64, _ digest: String?) -> Void {
        let progress = self.progress
        return { bytes, digest in
            progress?(
                TransferProgress(
                    path: shown, bytes: bytes, size: size, resumedFrom: resumedFrom, finished: digest != nil,
                    digest: digest, mode: mode, mtime: mtime))
        }
    }
}

/// A listing from the server.
public struct RemoteListing: Sendable {
    /// What the listed path is.
    public var type: ControlMessage.FileType
    /// Its entries; a file lists as itself.
    public var entries: [ControlMessage.FileEntry]
    /// Entries left out because their names are not valid UTF-8.
    public var skipped: Int
    /// Some of those names, each with its bytes that are not UTF-8 shown as `\xFF` (from the server: escape
    /// them again before printing).
    public var skippedNames: [String] = []
    /// A listed directory's own entry, if the server sent it.
    public var directory: ControlMessage.FileEntry?

    /// One line for each entry left out because its name is not valid UTF-8, for a transfer's summary.
    public var unreadable: [String] {
        var lines = skippedNames.map { "'\(TerminalText.escaped($0))': its name is not valid UTF-8" }
        if skipped > lines.count {
            lines.append("\(skipped - lines.count) more names that are not valid UTF-8")
        }
        return lines
    }
}

extension ClientConnection {
    /// Lists `path` on the server (relative to its root), its whole tree if `recursive`.
    public func list(_ path: String, recursive: Bool = false) async throws -> RemoteListing {
        try await listOnChannel(path, recursive: recursive, channels)
    }

    /// Downloads the file `remote` to the local path `local`, verified, written under a partial name and renamed
    /// into place once its digest matched.
    public func download(_ remote: String, to local: String, options: TransferOptions = .init()) async throws
        -> TransferSummary
    {
        let (directory, name) = try LocalPath.split(local)
        let target = try await LocalPath.confined(directory)
        var summary = TransferSummary()
        try await download(remote, into: target, [name], shown: name, options: options, summary: &summary)
        return summary
    }

    /// Uploads the local file `local` to `remote` on the server, which verifies it and renames it into place.
    public func upload(_ local: String, to remote: String, options: TransferOptions = .init()) async throws
        -> TransferSummary
    {
        let file = try await LocalPath.run { try OutgoingFile(path: local, algorithm: options.checksum) }
        var summary = TransferSummary()
        try await upload(file, to: remote, shown: local, options: options, summary: &summary)
        return summary
    }

    /// Downloads the directory tree `remote` into the local directory `local` (created if missing), with the
    /// mode and time of every directory, the top one included.
    ///
    /// Every name the server sends is checked before use (``TreeFilter``: an unsafe one is skipped with a
    /// warning), and every file is opened beneath `local` by the kernel (`RESOLVE_BENEATH`): a server cannot make
    /// the client write outside `local`, whatever names or symlinks it sends. Symlinks are recreated after all
    /// files only if they can never resolve outside the tree (``ConfinedDirectory/makeSymlink(_:target:)``);
    /// others are skipped with a warning.
    public func downloadTree(_ remote: String, to local: String, options: TransferOptions = .init()) async throws
        -> TransferSummary
    {
        let listing = try await list(remote, recursive: true)
        guard listing.type == .directory else {
            throw PorterError(.refused, "\(TerminalText.escaped(remote)) is not a directory on the server")
        }
        let target = try await LocalPath.run { () throws -> ConfinedDirectory in
            try LocalPath.makeDirectory(local)
            return try ConfinedDirectory(path: local)
        }
        var summary = TransferSummary()
        var filter = TreeFilter()
        var directories: [(components: [String], entry: ControlMessage.FileEntry)] = []
        var links: [(components: [String], entry: ControlMessage.FileEntry)] = []
        for entry in listing.entries {
            guard let components = filter.components(of: entry) else { continue }
            switch entry.type {
            case .directory:
                try await LocalPath.run { try target.makeDirectory(components) }
                directories.append((components, entry))
            case .file:
                try await download(
                    RemotePath.join(remote, entry.path), into: target, components, shown: entry.path,
                    options: options, summary: &summary)
            case .symlink:
                links.append((components, entry))
            case .other:
                filter.skip(entry, "'\(TerminalText.escaped(entry.path))': not a regular file, directory or symlink")
            }
        }
        for (components, entry) in links {
            guard let linkTarget = entry.target else {
                filter.skip(entry, "symlink '\(TerminalText.escaped(entry.path))': its target is not valid UTF-8")
                continue
            }
            do {
                try await BlockingIO.run { try target.makeSymlink(components, target: linkTarget) }
                summary.symlinks += 1
            } catch let error as ProtocolError where error.code == .badPath {
                filter.skip(entry, error.message)
            }
        }
        for (components, entry) in directories.reversed() {
            try await LocalPath.run { try target.setAttributes(components, mode: entry.mode, mtime: entry.mtime) }
        }
        if let top = listing.directory {
            try await LocalPath.run { try target.setAttributes([], mode: top.mode, mtime: top.mtime) }
        }
        summary.directories = directories.count + 1
        summary.skipped = listing.unreadable + filter.skipped
        return summary
    }

    /// Uploads the local directory tree `local` to the directory `remote` on the server (created if missing).
    ///
    /// Entries are chosen as ``downloadTree(_:to:options:)`` chooses them (``TreeFilter``), so a name one
    /// direction refuses is not sent the other way either. Symlinks are sent as symlinks when they can never
    /// resolve outside the tree (``PeerPath/problem(withSymlinkAt:target:)``; the server checks again), and
    /// skipped otherwise; they are never followed.
    public func uploadTree(_ local: String, to remote: String, options: TransferOptions = .init()) async throws
        -> TransferSummary
    {
        let (source, listing) = try await LocalPath.run {
            () throws -> (ConfinedDirectory, (ControlMessage.FileType, [ControlMessage.FileEntry], [String])) in
            let source = try ConfinedDirectory(path: local)
            return (source, try DirectoryWalk(limit: .max).list(source, [], recursive: true))
        }
        let (type, walked, unreadable) = listing
        guard type == .directory, let top = walked.first else {
            throw PorterError(.configuration, "\(TerminalText.escaped(local)) is not a directory")
        }
        var summary = TransferSummary()
        var filter = TreeFilter()
        try await request(.fileMkdir(.init(path: remote)))
        var directories: [(path: String, entry: ControlMessage.FileEntry)] = [(remote, top)]
        var links: [(components: [String], entry: ControlMessage.FileEntry)] = []
        for entry in walked.dropFirst() {
            guard let components = filter.components(of: entry) else { continue }
            let path = RemotePath.join(remote, entry.path)
            switch entry.type {
            case .directory:
                try await request(.fileMkdir(.init(path: path)))
                directories.append((path, entry))
            case .file:
                let file = try await LocalPath.run {
                    try OutgoingFile(in: source, components, algorithm: options.checksum)
                }
                try await upload(file, to: path, shown: entry.path, options: options, summary: &summary)
            case .symlink:
                links.append((components, entry))
            case .other:
                filter.skip(entry, "'\(TerminalText.escaped(entry.path))': not a regular file, directory or symlink")
            }
        }
        for (components, entry) in links {
            let shown = "symlink '\(TerminalText.escaped(entry.path))'"
            guard let target = entry.target else {
                filter.skip(entry, "\(shown): its target is not valid UTF-8")
                continue
            }
            if let problem = PeerPath.problem(withSymlinkAt: components, target: target) {
                filter.skip(entry, "\(shown) -> '\(TerminalText.escaped(target))': \(problem)")
                continue
            }
            do {
                try await request(.fileSymlink(.init(path: RemotePath.join(remote, entry.path), target: target)))
                summary.symlinks += 1
            } catch let error as PorterError where error.code == .badPath {
                filter.skip(entry, "\(shown): refused by the \(error.message)")
            }
        }
        for (path, entry) in directories.reversed() {
            try await request(.fileAttrs(.init(path: path, mode: entry.mode, mtime: entry.mtime)))
        }
        summary.directories = directories.count
        summary.skipped =
            unreadable.map { "'\($0)': its name is not valid UTF-8" } + filter.skipped
        return summary
    }

    /// Sends a global request and waits for its answer (internal so that tests can send requests a well-behaved
    /// client never would).
    func request(_ request: ConnectionMessage.GlobalRequest.Request) async throws {
        try await channels.global(request)
    }

    private func download(
        _ remote: String, into target: ConfinedDirectory, _ components: [String], shown: String,
        options: TransferOptions, summary: inout TransferSummary
    ) async throws {
        let file = try await LocalPath.run {
            try IncomingFile(in: target, components, size: .max, resume: options.resume, algorithm: options.checksum)
        }
        defer { file.close() }
        try await downloadOnChannel(remote, into: file, shown: shown, options: options, channels, summary: &summary)
    }

    private func upload(
        _ file: OutgoingFile, to remote: String, shown: String, options: TransferOptions,
        summary: inout TransferSummary
    ) async throws {
        try await uploadOnChannel(file, to: remote, shown: shown, options: options, channels, summary: &summary)
    }
}

/// Local file system steps of a transfer, on the thread pool, with failures as ``PorterError``s.
enum LocalPath {
    /// Runs `work` on the thread pool; a ``ProtocolError`` from it becomes a ``PorterError`` about a local file.
    static func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        do {
            return try await BlockingIO.run(work)
        } catch let error as ProtocolError {
            let kind: PorterError.Kind = error.code == .digestMismatch ? .refused : .configuration
            throw PorterError(kind, "local file: \(error.message)", code: error.code)
        }
    }

    /// The directory `path` opened for confined access.
    static func confined(_ path: String) async throws -> ConfinedDirectory {
        try await run { try ConfinedDirectory(path: path) }
    }

    /// `path` as its directory and last name.
    static func split(_ path: String) throws(PorterError) -> (directory: String, name: String) {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", trimmed) }
        let name = String(trimmed[trimmed.index(after: slash)...])
        guard !name.isEmpty, name != ".", name != ".." else {
            throw PorterError(.configuration, "\(TerminalText.escaped(path)) does not name a file")
        }
        let directory = String(trimmed[..<slash])
        return (directory.isEmpty ? "/" : directory, name)
    }

    /// Creates the directory `path` unless it exists.
    static func makeDirectory(_ path: String) throws(ProtocolError) {
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw ConfinedDirectory.failure(errno, path) }
    }
}

/// Paths on the server.
enum RemotePath {
    /// `base` and `relative` joined with one `/`; the root (`""` or `.`) disappears.
    static func join(_ base: String, _ relative: String) -> String {
        if base.isEmpty || base == "." { return relative }
        return base.hasSuffix("/") ? base + relative : base + "/" + relative
    }
}
