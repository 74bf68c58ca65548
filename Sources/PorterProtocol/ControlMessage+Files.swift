extension ControlMessage {
    /// A digest algorithm for verifying transfers (see docs/PROTOCOL.md for why XXH3-128 is the default).
    public enum Checksum: String, Codable, Sendable, CaseIterable {
        /// XXH3-128, written as 32 lowercase hex digits, the same as `xxh128sum` prints; the default.
        case xxh128
        /// SHA-256, written as 64 lowercase hex digits, the same as `sha256sum` prints.
        case sha256

        /// The algorithm used when a request names none.
        public static let `default` = Checksum.xxh128
    }

    /// What a directory entry is. Anything but a regular file, a directory or a symlink is `other` and is
    /// listed but never transferred.
    public enum FileType: String, Codable, Sendable {
        case file, directory, symlink, other
    }

    /// A file's modification time: whole seconds since 1970 and nanoseconds.
    public struct FileTime: Codable, Sendable, Equatable {
        /// Seconds since 1970-01-01 00:00 UTC.
        public var seconds: Int64
        /// Nanoseconds, 0 to 999 999 999.
        public var nanoseconds: Int
        /// Creates a time.
        public init(seconds: Int64, nanoseconds: Int) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }
    }

    /// One entry of a listing.
    public struct FileEntry: Codable, Sendable, Equatable {
        /// The path relative to the listed directory, components joined by `/`; for a listed file, its name.
        public var path: String
        /// What the entry is.
        public var type: FileType
        /// Size in bytes (of a symlink: the length of its target).
        public var size: Int64
        /// Permission bits, e.g. `0o644` (sent as a decimal number).
        public var mode: UInt32
        /// Modification time.
        public var mtime: FileTime
        /// A symlink's target, exactly as stored.
        public var target: String?
        /// Creates an entry.
        public init(path: String, type: FileType, size: Int64, mode: UInt32, mtime: FileTime, target: String? = nil) {
            self.path = path
            self.type = type
            self.size = size
            self.mode = mode
            self.mtime = mtime
            self.target = target
        }
    }

    /// The members of a `file.list` open: list a path under the server's root.
    public struct FileList: Codable, Sendable, Equatable {
        /// The path, relative to the root; `""` or `"."` is the root itself.
        public var path: String
        /// List the whole tree below a directory, not only its entries. Symlinks are listed, never followed.
        public var recursive: Bool?
        /// Creates the payload.
        public init(path: String, recursive: Bool? = nil) {
            self.path = path
            self.recursive = recursive
        }
    }

    /// The members of a `file.get` open: send a file. The server accepts with the file's ``FileHeader``, sends its
    /// data on stream 0 and ends with `done` and the file's ``FileEnd``, or refuses.
    public struct FileGet: Codable, Sendable, Equatable {
        /// The file, relative to the root.
        public var path: String
        /// Resume: the number of bytes the client already has.
        public var offset: Int64?
        /// Resume: the digest of the client's first `offset` bytes. If the server's file starts differently it
        /// sends the whole file, with `offset` 0 in `file.header`.
        public var prefix: String?
        /// The digest algorithm; XXH3-128 if absent.
        public var checksum: Checksum?
        /// Creates the payload.
        public init(path: String, offset: Int64? = nil, prefix: String? = nil, checksum: Checksum? = nil) {
            self.path = path
            self.offset = offset
            self.prefix = prefix
            self.checksum = checksum
        }
    }

    /// The members of a `file.get` accept: the file about to be sent.
    public struct FileHeader: Codable, Sendable, Equatable {
        /// The whole file's size.
        public var size: Int64
        /// Where the data frames start; the bytes before it are the client's.
        public var offset: Int64
        /// Permission bits.
        public var mode: UInt32
        /// Modification time.
        public var mtime: FileTime
        /// Creates the payload.
        public init(size: Int64, offset: Int64, mode: UInt32, mtime: FileTime) {
            self.size = size
            self.offset = offset
            self.mode = mode
            self.mtime = mtime
        }
    }

    /// Payload of `file.end` (an upload's, after its data) and the members of a download's `done`: all data has
    /// been sent; the digest covers the whole file, from byte 0.
    public struct FileEnd: Codable, Sendable, Equatable {
        /// Lowercase hex digest.
        public var digest: String
        /// Creates the payload.
        public init(digest: String) { self.digest = digest }
    }

    /// The members of a `file.put` open: receive a file. The server accepts with its ``FileReady`` or refuses.
    public struct FilePut: Codable, Sendable, Equatable {
        /// Where the file goes, relative to the root. Its directory must exist.
        public var path: String
        /// The file's size.
        public var size: Int64
        /// Permission bits; the server keeps only `0o777` of them. Absent: `0o644`.
        public var mode: UInt32?
        /// Modification time to set; absent: the time of writing.
        public var mtime: FileTime?
        /// The digest algorithm; XXH3-128 if absent.
        public var checksum: Checksum?
        /// Continue an interrupted upload of the same path if its partial file is still there.
        public var resume: Bool?
        /// Creates the payload.
        public init(
            path: String, size: Int64, mode: UInt32? = nil, mtime: FileTime? = nil, checksum: Checksum? = nil,
            resume: Bool? = nil
        ) {
            self.path = path
            self.size = size
            self.mode = mode
            self.mtime = mtime
            self.checksum = checksum
            self.resume = resume
        }
    }

    /// The members of a `file.put` accept: the server is ready to receive.
    public struct FileReady: Codable, Sendable, Equatable {
        /// Bytes of an interrupted upload the server already holds (0 without `resume`).
        public var offset: Int64
        /// The digest of those bytes, when `offset` is above 0.
        public var prefix: String?
        /// Creates the payload.
        public init(offset: Int64, prefix: String? = nil) {
            self.offset = offset
            self.prefix = prefix
        }
    }

    /// Payload of `file.begin`: the client's data starts at `offset` — the server's offer if the prefix digests
    /// match, else 0.
    public struct FileBegin: Codable, Sendable, Equatable {
        /// Where the data frames start.
        public var offset: Int64
        /// Creates the payload.
        public init(offset: Int64) { self.offset = offset }
    }

    /// The members of an upload's `done`: the file is under its final name.
    public struct FileDone: Codable, Sendable, Equatable {
        /// For an upload, the size now under the final name.
        public var size: Int64?
        /// Creates the payload.
        public init(size: Int64? = nil) { self.size = size }
    }

    /// The members of the global request `file.mkdir`: create a directory (succeeds if it already is one).
    public struct FileMkdir: Codable, Sendable, Equatable {
        /// The directory, relative to the root.
        public var path: String
        /// Creates the payload.
        public init(path: String) { self.path = path }
    }

    /// The members of the global request `file.symlink`: create a symlink whose target stays inside the root.
    public struct FileSymlink: Codable, Sendable, Equatable {
        /// The link, relative to the root.
        public var path: String
        /// The target: relative, and not leading out of the root from the link's directory.
        public var target: String
        /// Creates the payload.
        public init(path: String, target: String) {
            self.path = path
            self.target = target
        }
    }

    /// The members of the global request `file.attrs`: set a file's or directory's mode and modification time.
    public struct FileAttributes: Codable, Sendable, Equatable {
        /// The path, relative to the root.
        public var path: String
        /// Permission bits; the server keeps only `0o777` of them.
        public var mode: UInt32?
        /// Modification time.
        public var mtime: FileTime?
        /// Creates the payload.
        public init(path: String, mode: UInt32? = nil, mtime: FileTime? = nil) {
            self.path = path
            self.mode = mode
            self.mtime = mtime
        }
    }
}
