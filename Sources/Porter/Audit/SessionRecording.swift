import Logging
import NIOCore
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The directory of `serve --record DIR` (docs/AUDIT.md): every pseudo-terminal session is recorded there as an
/// asciicast v2 file, which `asciinema play` plays.
public final class RecordingDirectory: Sendable {
    /// The directory's absolute path, so that the audit log names each recording wherever it is read.
    public let path: String
    private let logger: Logger

    /// Uses the directory at `path`, created (mode 0700) if missing.
    ///
    /// - Throws: ``PorterError`` (`configuration`) if it is not a directory this process can write.
    public init(path: String, logger: Logger) throws(PorterError) {
        self.logger = logger
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw PorterError(.configuration, "cannot create --record \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw PorterError(.configuration, "--record \(path) is not a directory")
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw PorterError(.configuration, "--record \(path) is not writable by this user")
        }
        if info.st_mode & 0o022 != 0 {
            // Another user could remove recordings, or put files of their own beside them.
            logger.warning(
                "--record \(path) is writable by its group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 700 it"
            )
        }
        guard let resolved = realpath(path, nil) else {
            throw PorterError(.configuration, "cannot resolve --record \(path): \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        self.path = String(cString: resolved)
    }

    /// Starts the recording of a session: a new file named for when it began and who runs it
    /// (`20261204T093000Z_token_c12.1.cast`, `20261204T093000Z_ann_key-AbCd…_c12.1.cast`), with its header written.
    /// `nil` if the file cannot be made, which the server log says.
    func start(
        who: RecordingName, connection: UInt64, channel: UInt32, terminal: ControlMessage.Terminal,
        command: [String], title: String
    ) -> SessionRecording? {
        let base = "\(path)/\(AuditClock.compactTimestamp())_\(who.fileNamePart)_c\(connection).\(channel)"
        var name = base + ".cast"
        var descriptor = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        var suffix = 1
        while descriptor < 0, errno == EEXIST, suffix < 100 {
            suffix += 1
            name = "\(base)-\(suffix).cast"
            descriptor = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard descriptor >= 0 else {
            logger.error("cannot record the session in \(path): \(String(cString: strerror(errno)))")
            return nil
        }
        let recording = SessionRecording(path: name, descriptor: descriptor, logger: logger)
        recording.writeHeader(terminal: terminal, command: command, title: title)
        return recording
    }
}

/// Who a recording's file name names: `token`, or a key's comment (cut to what a file name safely holds) and
/// the start of its fingerprint.
struct RecordingName: Sendable {
    let fileNamePart: String

    /// The name for the token.
    static let token = RecordingName(fileNamePart: "token")

    /// The name for a key: `comment_key-FINGERPRINT16`, or `key-FINGERPRINT16` without a comment.
    static func key(fingerprint: String, comment: String) -> RecordingName {
        let digest = fingerprint.split(separator: ":").last.map(String.init) ?? fingerprint
        // Made safe first, one character per scalar, then cut: bytes, not characters, are a file name's limit.
        let key = "key-" + String(safe(digest).prefix(16))
        let comment = String(safe(comment).prefix(32))
        return RecordingName(fileNamePart: comment.isEmpty ? key : comment + "_" + key)
    }

    /// Letters, digits, `.`, `-` and `@` as they are; anything else becomes `-`.
    private static func safe(_ text: String) -> String {
        String(
            text.unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "@": Character(scalar)
                default: "-"
                }
            })
    }
}

/// One session's asciicast v2 file (https://docs.asciinema.org/manual/asciicast/v2/): the header line, then an
/// event line for each burst of output (`[seconds, "o", text]`) and each resize (`[seconds, "r", "COLSxROWS"]`).
/// What the client types is not recorded as input (a password typed at a prompt would be); the terminal's echo of
/// it is output, and recorded.
///
/// Owned by the channel's event loop; each event is one `write(2)` as it happens, so a recording survives the
/// server's end up to its last burst. A write that fails ends the recording, which the server log says.
final class SessionRecording {
    /// The file's path, which the audit line of the session names.
    let path: String
    private var descriptor: CInt
    private let logger: Logger
    private let started = NIODeadline.now()
    /// The start of a UTF-8 sequence that the last burst cut, kept for the next.
    private var carry: [UInt8] = []

    fileprivate init(path: String, descriptor: CInt, logger: Logger) {
        self.path = path
        self.descriptor = descriptor
        self.logger = logger
    }

    deinit {
        close()
    }

    fileprivate func writeHeader(terminal: ControlMessage.Terminal, command: [String], title: String) {
        var header: [(String, JSONValue)] = [
            ("version", .integer(2)), ("width", .integer(terminal.cols)), ("height", .integer(terminal.rows)),
            ("timestamp", .integer(AuditClock.unixSeconds())),
        ]
        // A login shell has no argv of its own.
        if !command.isEmpty { header.append(("command", .string(command.joined(separator: " ")))) }
        header += [("title", .string(title)), ("env", .object([("TERM", .string(terminal.term))]))]
        write(.object(header))
    }

    /// Output the terminal showed.
    func output(_ bytes: ByteBuffer) {
        guard descriptor >= 0, bytes.readableBytes > 0 else { return }
        var text = carry
        text.append(contentsOf: bytes.readableBytesView)
        let cut = Self.completeLength(text)
        carry = Array(text[cut...])
        guard cut > 0 else { return }
        event("o", String(decoding: text[..<cut], as: UTF8.self))
    }

    /// The terminal's new size.
    func resize(rows: Int, cols: Int) {
        event("r", "\(cols)x\(rows)")
    }

    /// Ends the recording: what a cut sequence held is written as it is (replaced, if incomplete), and the file
    /// closes.
    func close() {
        guard descriptor >= 0 else { return }
        if !carry.isEmpty {
            event("o", String(decoding: carry, as: UTF8.self))
            carry = []
        }
        Glibc.close(descriptor)
        descriptor = -1
    }

    private func event(_ code: String, _ data: String) {
        let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        write(.array([.seconds(seconds), .string(code), .string(data)]))
    }

    private func write(_ value: JSONValue) {
        guard descriptor >= 0 else { return }
        var line = ""
        value.write(to: &line)
        line += "\n"
        if let failure = DescriptorWrite.all(line, to: descriptor) {
            logger.error("cannot write the recording \(path): \(String(cString: strerror(failure))); it ends here")
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    /// How many bytes of `bytes` end on a whole UTF-8 sequence: all of them, unless the last one to four bytes
    /// begin a sequence that needs more.
    static func completeLength(_ bytes: [UInt8]) -> Int {
        var start = bytes.count
        // The last lead byte (or ASCII byte) within the last four bytes.
        while start > max(0, bytes.count - 4) {
            start -= 1
            let byte = bytes[start]
            guard byte & 0xC0 == 0x80 else {
                let length =
                    switch byte {
                    case 0xF0...0xF7: 4
                    case 0xE0...0xEF: 3
                    case 0xC0...0xDF: 2
                    default: 1
                    }
                return start + length > bytes.count ? start : bytes.count
            }
        }
        return bytes.count
    }
}
