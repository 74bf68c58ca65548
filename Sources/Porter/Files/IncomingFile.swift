import CPorterSystem
import NIOCore
import NIOPosix
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A file being received: written under a partial name beside its final one, `.NAME.porter-part`, and renamed
/// into place only after its digest matched, its data was flushed to disk (`fsync`) and its mode and time were
/// set. Nothing ever appears under the final name half-written.
///
/// An interrupted transfer leaves the partial file, which a resumed one continues after checking its digest. The
/// partial file is locked (`flock`) while in use, so two transfers to one name cannot interleave: the second waits
/// for the first (up to ``busyWait``, then it is refused as busy) and then starts from whatever is under the
/// partial name by then, never from the file the first renamed into place.
///
/// Used by one transfer at a time; its methods block (see ``BlockingIO``).
///
/// `@unchecked Sendable`: its state (a descriptor, a digest) is not safe to touch from two threads at once, and it
/// never is: one transfer owns it (a task on the client, a ``FileReceiver`` on the server's
/// channels) and calls its methods one after another, each on the thread pool after the one before has completed,
/// whose hand-offs order every use after the one before.
final class IncomingFile: @unchecked Sendable {
    /// The suffix of partial files.
    static let partSuffix = ".porter-part"

    /// The partial file's name for a file called `name`.
    static func partName(for name: String) -> String {
        let part = "." + name + partSuffix
        // A name near the length limit keeps its partial file within it.
        return part.utf8.count <= PeerPath.maxComponentLength ? part : ".\(FileDigest.of(name)).porter-part"
    }

    private let directory: CInt
    private let name: String
    private let partName: String
    private let descriptor: CInt
    private let algorithm: ControlMessage.Checksum
    private var digest: FileDigest
    private var closed = false
    /// Bytes already in the partial file that a resume may keep.
    private(set) var offered: Int64 = 0
    /// The digest of those bytes.
    private(set) var offeredDigest: String?
    /// Bytes written so far, from 0.
    private(set) var written: Int64 = 0
    /// Bytes handed to the disk's writeback so far.
    private var flushing: Int64 = 0
    /// Writeback starts every this many bytes, so the final `fsync` overlaps the transfer instead of following it.
    static let writebackInterval: Int64 = 8 << 20
    /// The path as shown in messages.
    let shownPath: String

    /// Opens the partial file for `components` beneath `root`, keeping its content for a resume if `resume`
    /// (and it is no longer than `size`), else emptying it; waits up to `busyWait` on this thread for another
    /// transfer that holds it. (A server waits with ``open(in:_:size:resume:algorithm:busyWait:on:)`` instead.)
    convenience init(
        in root: ConfinedDirectory, _ components: [String], size: Int64, resume: Bool,
        algorithm: ControlMessage.Checksum = .default, busyWait: Duration = IncomingFile.busyWait
    ) throws(ProtocolError) {
        let opening = try PartFileOpening(root, components)
        let deadline = ContinuousClock.now + busyWait
        while true {
            try opening.openByName()
            var locked = try opening.tryLock()
            while !locked, ContinuousClock.now < deadline {
                usleep(UInt32(Self.retryInterval.nanoseconds / 1000))
                locked = try opening.tryLock()
            }
            guard locked else { throw opening.busy }
            if opening.isStillNamed { break }
        }
        try self.init(opening, size: size, resume: resume, algorithm: algorithm)
    }

    /// Takes over `opening`, whose partial file is locked and still under its name.
    private init(_ opening: PartFileOpening, size: Int64, resume: Bool, algorithm: ControlMessage.Checksum)
        throws(ProtocolError)
    {
        opening.handedOver = true
        self.directory = opening.directory
        self.name = opening.name
        self.partName = opening.partName
        self.descriptor = opening.descriptor
        self.shownPath = opening.shownPath
        self.algorithm = algorithm
        self.digest = FileDigest(algorithm)
        var status = stat()
        if resume, fstat(descriptor, &status) == 0, status.st_size > 0, Int64(status.st_size) <= size {
            offered = Int64(status.st_size)
            offeredDigest = try hashPrefix(offered)
        }
        try truncate(to: offered)
    }

    deinit { close() }

    /// Opens the partial file as ``init(in:_:size:resume:algorithm:busyWait:)`` does, waiting up to `busyWait` for
    /// another transfer that holds it without holding a thread meanwhile: the opens run on NIO's thread pool, and
    /// the lock is tried (`flock` with `LOCK_NB`, which never blocks) on `eventLoop` every ``retryInterval``. A wait
    /// on the pool would stop every file operation of the process once a few uploads waited at once.
    static func open(
        in root: ConfinedDirectory, _ components: [String], size: Int64, resume: Bool,
        algorithm: ControlMessage.Checksum, busyWait: Duration, on eventLoop: any EventLoop
    ) -> EventLoopFuture<IncomingFile> {
        let deadline = NIODeadline.now() + TimeAmount(busyWait)
        let pool = NIOThreadPool.singleton
        let opened = pool.runIfActive(eventLoop: eventLoop) { () throws -> PartFileOpening in
            let opening = try PartFileOpening(root, components)
            try opening.openByName()
            return opening
        }
        return opened.flatMap { opening in
            @Sendable func attempt() -> EventLoopFuture<IncomingFile> {
                let locked: Bool
                do { locked = try opening.tryLock() } catch { return eventLoop.makeFailedFuture(error) }
                guard locked else {
                    guard NIODeadline.now() < deadline else { return eventLoop.makeFailedFuture(opening.busy) }
                    return eventLoop.scheduleTask(in: retryInterval) {}.futureResult.flatMap { attempt() }
                }
                return pool.runIfActive(eventLoop: eventLoop) { () throws -> IncomingFile? in
                    guard opening.isStillNamed else {
                        // The holder renamed or removed the file meanwhile: wait for whatever is under the name now.
                        try opening.openByName()
                        return nil
                    }
                    return try IncomingFile(opening, size: size, resume: resume, algorithm: algorithm)
                }.flatMap { file in file.map { eventLoop.makeSucceededFuture($0) } ?? attempt() }
            }
            return attempt()
        }
    }

    /// The pause between tries of a partial file that another transfer holds.
    static let retryInterval = TimeAmount.milliseconds(20)

    /// How long an upload waits, by default, for a partial file that another transfer holds before it is refused
    /// as busy.
    /// The usual holder is a transfer whose client has just died: its connection is still being closed when the
    /// client, restarted with `--resume`, asks again.
    static let busyWait: Duration = .seconds(2)

    /// Whether `partName` in `directory` still names the file open as `descriptor`.
    fileprivate static func isStillNamed(_ descriptor: CInt, _ partName: String, in directory: CInt) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(descriptor, &open) == 0, fstatat(directory, partName, &named, AT_SYMLINK_NOFOLLOW) == 0 else {
            return false
        }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// Hashes the first `count` bytes of the partial file into the running digest.
    private func hashPrefix(_ count: Int64) throws(ProtocolError) -> String {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while done < count {
            let wanted = Int(min(Int64(buffer.count), count - done))
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, wanted, off_t(done)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw ConfinedDirectory.failure(got < 0 ? errno : EIO, shownPath) }
            buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
            done += Int64(got)
        }
        written = count
        return digest.hex
    }

    /// Keeps the first `offset` bytes — ``offered`` or 0 — and continues writing after them.
    func begin(at offset: Int64) throws(ProtocolError) {
        guard offset == 0 || offset == offered else {
            throw ProtocolError(.badRequest, "resume offset \(offset) was not offered")
        }
        if offset == 0, written > 0 {
            digest = FileDigest(algorithm)
            written = 0
            try truncate(to: 0)
        }
    }

    private func truncate(to size: Int64) throws(ProtocolError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw ConfinedDirectory.failure(errno, shownPath) }
    }

    /// Writes and hashes `buffer` after what was written so far.
    func write(_ buffer: ByteBuffer) throws(ProtocolError) {
        try checkOpen()
        var failure: CInt = 0
        buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let count = pwrite(
                    descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(written) + off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += count
            }
            digest.update(bytes)
        }
        guard failure == 0 else { throw ConfinedDirectory.failure(failure, shownPath) }
        written += Int64(buffer.readableBytes)
        if written - flushing >= Self.writebackInterval {
            // Advice only: a failure here shows up again, and is reported, at the fsync.
            _ = porter_start_writeback(descriptor, flushing, written - flushing)
            flushing = written
        }
    }

    /// Verifies the data against `expected`, flushes it, sets `mode` and `mtime`, and renames the file into
    /// place, unless `commit` was abandoned first (the partial file then stays, for a resume). On a mismatch the
    /// partial file is removed and ``ProtocolError/Code/digestMismatch`` thrown.
    func finish(
        expected: String, mode: UInt32?, mtime: ControlMessage.FileTime?, commit: UploadCommit = UploadCommit()
    ) throws(ProtocolError) {
        try checkOpen()
        guard digest.hex == expected else {
            discard()
            throw ProtocolError(
                .digestMismatch,
                "'\(TerminalText.escaped(shownPath))' arrived corrupted (digest differs); nothing was written under its name"
            )
        }
        guard fsync(descriptor) == 0 else { throw ConfinedDirectory.failure(errno, shownPath) }
        // An abandoned upload keeps its partial file as it was, for a resume: not the client's mode, which
        // could leave it unwritable.
        guard commit.begin() else {
            close()
            return
        }
        do throws(ProtocolError) {
            try ConfinedDirectory.apply(mode: mode ?? 0o644, mtime: mtime, to: descriptor, path: shownPath)
            guard renameat(directory, partName, directory, name) == 0 else {
                throw ConfinedDirectory.failure(errno, shownPath)
            }
        } catch {
            commit.end(renamed: false)
            throw error
        }
        commit.end(renamed: true)
        // The rename itself is durable once the directory is flushed.
        let flushed = porter_open_beneath(directory, ".", O_RDONLY | O_DIRECTORY, 0)
        if flushed >= 0 {
            fsync(flushed)
            Glibc.close(flushed)
        }
        close()
    }

    /// Throws once the file is finished or closed: its descriptors may already belong to another file.
    private func checkOpen() throws(ProtocolError) {
        guard !closed else {
            throw ProtocolError(.badRequest, "'\(TerminalText.escaped(shownPath))' is already finished")
        }
    }

    /// Removes the partial file.
    func discard() {
        guard !closed else { return }
        unlinkat(directory, partName, 0)
        close()
    }

    /// Closes the file, leaving the partial file for a resume.
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
        Glibc.close(directory)
    }
}

/// The first steps of opening an ``IncomingFile``: the directory opened beneath the root, and the partial file
/// opened by name, not yet locked.
///
/// The lock belongs to the file, not to the name: while an upload waited, the transfer holding the file may have
/// renamed it into place (it finished) or removed it (its digest did not match). The lock is only good if the file
/// locked is still the one under the partial name (``isStillNamed``); otherwise the name is opened again, so a
/// waiting upload never writes into a finished file.
///
/// `@unchecked Sendable`: one opening uses it, each step after the one before (the thread pool's hand-offs and the
/// event loop's timers order them), and ``IncomingFile`` takes its descriptors over at the end.
final class PartFileOpening: @unchecked Sendable {
    let directory: CInt
    let name: String
    let partName: String
    let shownPath: String
    private(set) var descriptor: CInt = -1
    /// The descriptors now belong to an ``IncomingFile``.
    var handedOver = false

    /// Opens the directory of `components` beneath `root`. Blocks.
    init(_ root: ConfinedDirectory, _ components: [String]) throws(ProtocolError) {
        let (directory, name) = try root.openParent(of: components)
        shownPath = components.joined(separator: "/")
        var status = stat()
        if fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0, status.st_mode & S_IFMT == S_IFDIR {
            Glibc.close(directory)
            throw ProtocolError(.fileError, "'\(TerminalText.escaped(shownPath))' is a directory")
        }
        self.directory = directory
        self.name = name
        self.partName = IncomingFile.partName(for: name)
    }

    deinit {
        guard !handedOver else { return }
        if descriptor >= 0 { Glibc.close(descriptor) }
        Glibc.close(directory)
    }

    /// Opens (again) whatever is under the partial name, creating it if missing. Blocks.
    func openByName() throws(ProtocolError) {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = openPartFile(directory, partName)
        guard descriptor >= 0 else { throw ConfinedDirectory.failure(errno, shownPath) }
    }

    /// Tries to take the file's exclusive lock, without waiting: false while another transfer holds it; any other
    /// failure (`ENOLCK`: the kernel has no lock to give) is thrown, not waited out.
    func tryLock() throws(ProtocolError) -> Bool {
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            case let code: throw ConfinedDirectory.failure(code, shownPath)
            }
        }
    }

    /// Whether the partial name still names the file open.
    var isStillNamed: Bool { IncomingFile.isStillNamed(descriptor, partName, in: directory) }

    /// The refusal of an upload that waited in vain.
    var busy: ProtocolError {
        ProtocolError(.fileBusy, "another transfer to '\(TerminalText.escaped(shownPath))' is in progress; try again")
    }
}

/// Opens (creating, mode 0600) the partial file `name` in `directory`, never through a symlink.
private func openPartFile(_ directory: CInt, _ name: String) -> CInt {
    porter_open_beneath(directory, name, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
}

/// Whether an upload may still take its name. The channel's close abandons it (``abandon()``), so that an upload
/// whose client went away before hearing `done` is not put in place; once its rename has begun
/// (``begin()``), the close is too late, and the audit trail, which asks ``isInPlace`` at the close, records the
/// upload as completed. One atomic state, so the event loop never waits for a rename on the thread pool.
final class UploadCommit: Sendable {
    private static let pending: UInt8 = 0
    private static let committing: UInt8 = 1
    private static let committed: UInt8 = 2
    private static let abandoned: UInt8 = 3
    private static let failed: UInt8 = 4

    private let state = Atomic<UInt8>(UploadCommit.pending)

    /// On the thread pool, before the rename: `false` if the upload was abandoned and must not take its name.
    func begin() -> Bool {
        state.compareExchange(expected: Self.pending, desired: Self.committing, ordering: .acquiringAndReleasing)
            .exchanged
    }

    /// After ``begin()``: the rename succeeded, or failed.
    func end(renamed: Bool) {
        state.store(renamed ? Self.committed : Self.failed, ordering: .releasing)
    }

    /// On the event loop, when the channel closes: abandons the upload unless its rename has begun. `true` if it
    /// was abandoned.
    @discardableResult
    func abandon() -> Bool {
        state.compareExchange(expected: Self.pending, desired: Self.abandoned, ordering: .acquiringAndReleasing)
            .exchanged
    }

    /// Whether the file has taken its name, or is taking it now.
    var isInPlace: Bool {
        let now = state.load(ordering: .acquiring)
        return now == Self.committing || now == Self.committed
    }
}
