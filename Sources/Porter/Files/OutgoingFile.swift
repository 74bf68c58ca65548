import CPorterSystem
import NIOCore
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// A regular file being sent: read in order from an offset, hashed from byte 0.
///
/// Used by one transfer at a time; its methods block (see ``BlockingIO``).
///
/// `@unchecked Sendable`: its state (a descriptor, a digest) is not safe to touch from two threads at once, and it
/// never is: one transfer owns it (a task on the client or the classic ftp, a ``FileSender`` on the server's
/// channels) and calls its methods one after another, each on the thread pool after the one before has completed,
/// whose hand-offs order every use after the one before.
final class OutgoingFile: @unchecked Sendable {
    /// The file's attributes when opened; `size` is what will be sent, even if the file grows meanwhile.
    let entry: ControlMessage.FileEntry
    private let descriptor: CInt
    private var digest: FileDigest
    private let algorithm: ControlMessage.Checksum
    /// The next byte to read.
    private(set) var position: Int64 = 0

    private init(descriptor: CInt, path: String, algorithm: ControlMessage.Checksum) throws(ProtocolError) {
        do {
            entry = try ConfinedDirectory.entry(of: descriptor, path: path)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.algorithm = algorithm
        self.digest = FileDigest(algorithm)
        guard entry.type == .file else {
            Glibc.close(descriptor)
            throw ProtocolError(.fileError, "'\(TerminalText.escaped(path))' is not a regular file")
        }
    }

    /// Opens `components` beneath `directory`.
    convenience init(
        in directory: ConfinedDirectory, _ components: [String], algorithm: ControlMessage.Checksum = .default
    ) throws(ProtocolError) {
        let descriptor = try directory.open(components, flags: O_RDONLY)
        try self.init(descriptor: descriptor, path: components.last ?? ".", algorithm: algorithm)
    }

    /// Opens a local file the user named.
    convenience init(path: String, algorithm: ControlMessage.Checksum = .default) throws(ProtocolError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ConfinedDirectory.failure(errno, path) }
        try self.init(descriptor: descriptor, path: path, algorithm: algorithm)
    }

    deinit { Glibc.close(descriptor) }

    /// Skips the first `offset` bytes if their digest is `prefix` (the receiver already has them); otherwise
    /// starts from 0. Either way the digest covers them. Returns where sending starts.
    func resume(at offset: Int64, prefix: String?) throws(ProtocolError) -> Int64 {
        guard offset > 0, offset <= entry.size, let prefix else { return 0 }
        while position < offset {
            guard try read(upTo: Int(min(offset - position, 1 << 20))) != nil else { break }
        }
        if position == offset, digest.hex == prefix { return offset }
        digest = FileDigest(algorithm)
        position = 0
        return 0
    }

    /// Reads and hashes up to `count` bytes; `nil` once `entry.size` bytes have been read.
    ///
    /// - Throws: ``ProtocolError`` if reading fails or the file has shrunk.
    func read(upTo count: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(ProtocolError)
        -> ByteBuffer?
    {
        let wanted = Int(min(Int64(count), entry.size - position))
        guard wanted > 0 else { return nil }
        var buffer = allocator.buffer(capacity: wanted)
        var failure: CInt = 0
        let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes in
            let count = pread(descriptor, bytes.baseAddress, wanted, off_t(position))
            if count < 0 { failure = errno }
            return max(count, 0)
        }
        if failure == EINTR { return try read(upTo: count, allocator: allocator) }
        guard failure == 0 else { throw ConfinedDirectory.failure(failure, entry.path) }
        guard got > 0 else {
            throw ProtocolError(.fileError, "'\(TerminalText.escaped(entry.path))' shrank while being sent")
        }
        buffer.withUnsafeReadableBytes { digest.update($0) }
        position += Int64(got)
        return buffer
    }

    /// The digest of everything read so far.
    var hex: String { digest.hex }
}
