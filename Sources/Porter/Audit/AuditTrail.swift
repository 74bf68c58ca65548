import NIOCore
import PorterProtocol
import Synchronization

/// What a server records of who did what (docs/AUDIT.md): the audit log and the session recordings, either of
/// which may be off, and the numbers that tie one connection's lines together.
final class AuditTrail: Sendable {
    let log: AuditLog?
    let recordings: RecordingDirectory?
    private let connections = Atomic<UInt64>(0)

    /// The trail of `log` and `recordings`; `nil` when both are off.
    init?(log: AuditLog?, recordings: RecordingDirectory?) {
        guard log != nil || recordings != nil else { return nil }
        self.log = log
        self.recordings = recordings
    }

    /// The part of the trail of a new connection from `peer`, numbered from 1 in the order they came.
    func connection(peer: SocketAddress?) -> ConnectionAudit {
        let number = connections.add(1, ordering: .relaxed).newValue
        let peer =
            if let address = peer?.ipAddress, let port = peer?.port {
                address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
            } else {
                "unix"
            }
        return ConnectionAudit(trail: self, number: number, peer: peer)
    }
}

/// One connection's part of the audit trail: its number and peer and, once it has authenticated, who it is.
final class ConnectionAudit: Sendable {
    let trail: AuditTrail
    /// The connection's number on this server, since it started.
    let number: UInt64
    /// `ADDRESS:PORT` (`[ADDRESS]:PORT` for IPv6), or `unix`.
    let peer: String
    /// Who the connection authenticated as: `auth`, and for a key `key` and `comment`; empty before.
    let who: [(String, JSONValue)]
    /// How a recording's file name names who.
    let recordingName: RecordingName
    /// Who, for a person: `token`, or the key's fingerprint and comment.
    let description: String

    convenience init(trail: AuditTrail, number: UInt64, peer: String) {
        self.init(trail: trail, number: number, peer: peer, principal: nil, who: [], recordingName: .token)
    }

    private init(
        trail: AuditTrail, number: UInt64, peer: String, principal: Principal?, who: [(String, JSONValue)],
        recordingName: RecordingName
    ) {
        self.trail = trail
        self.number = number
        self.peer = peer
        self.who = who
        self.recordingName = recordingName
        self.description = principal?.description ?? "token"
    }

    /// This connection's trail once it authenticated as `principal`.
    func authenticated(as principal: Principal) -> ConnectionAudit {
        switch principal {
        case .key(let entry, let fingerprint):
            ConnectionAudit(
                trail: trail, number: number, peer: peer, principal: principal,
                who: [
                    ("auth", .string(PublicKeyProof.method)), ("key", .string(fingerprint)),
                    ("comment", .string(entry.comment)),
                ],
                recordingName: .key(fingerprint: fingerprint, comment: entry.comment))
        case .token:
            ConnectionAudit(
                trail: trail, number: number, peer: peer, principal: principal, who: [("auth", .string("token"))],
                recordingName: .token)
        }
    }

    /// The fields every line of this connection begins with.
    private var connectionFields: [(String, JSONValue)] {
        [("connection", .integer(number)), ("peer", .string(peer))]
    }

    /// An `auth` line: one `auth` message's outcome.
    func record(_ attempt: ServerHandshake.Attempt) {
        guard let log = trail.log else { return }
        var fields = connectionFields
        fields.append(("auth", .string(attempt.method == AuthProof.method ? "token" : attempt.method)))
        if let fingerprint = attempt.fingerprint { fields.append(("key", .string(fingerprint))) }
        if let keyType = attempt.keyType { fields.append(("keyType", .string(keyType))) }
        if let comment = attempt.comment { fields.append(("comment", .string(comment))) }
        if let line = attempt.line { fields.append(("line", .integer(line))) }
        fields.append(("outcome", .string(attempt.accepted ? "accepted" : "refused")))
        if let refusal = attempt.refusal {
            fields.append(("error", Self.error(refusal)))
            fields.append(("fatal", .bool(attempt.fatal)))
        }
        log.record("auth", fields)
    }

    /// A global request's line, once it has been carried out (`error` `nil`) or refused.
    func record(_ request: ConnectionMessage.GlobalRequest.Request, error: ProtocolError?, since started: NIODeadline) {
        guard let log = trail.log else { return }
        var fields = connectionFields + who
        switch request {
        case .fileMkdir(let mkdir):
            fields.append(("path", .string(AuditText.cut(mkdir.path))))
        case .fileSymlink(let symlink):
            fields += [
                ("path", .string(AuditText.cut(symlink.path))), ("target", .string(AuditText.cut(symlink.target))),
            ]
        case .fileAttrs(let attributes):
            fields.append(("path", .string(AuditText.cut(attributes.path))))
            if let mode = attributes.mode { fields.append(("mode", .mode(mode))) }
            if let mtime = attributes.mtime { fields.append(("mtime", .integer(mtime.seconds))) }
        case .unknown(let name):
            fields.append(("request", .string(AuditText.cut(name))))
        }
        fields.append(("outcome", .string(error == nil ? "completed" : "refused")))
        if let error { fields.append(("error", Self.error(error))) }
        fields.append(("duration", .seconds(Self.seconds(since: started))))
        // A name the client chose never becomes the line's event.
        if case .unknown = request { log.record("global", fields) } else { log.record(request.name, fields) }
    }

    /// An operation's line: ``OperationAudit`` builds its fields.
    fileprivate func record(operation event: String, _ fields: [(String, JSONValue)]) {
        trail.log?.record(event, connectionFields + who + fields)
    }

    static func error(_ error: ProtocolError) -> JSONValue {
        // A message may quote the client (a fatal `error` it sent): cut as client text is.
        .object([("code", .string(error.code.rawValue)), ("message", .string(AuditText.cut(error.message)))])
    }

    static func seconds(since started: NIODeadline) -> Double {
        Double((NIODeadline.now() - started).nanoseconds) / 1e9
    }
}

/// One channel's operation in the audit trail, on the connection's event loop: what was asked, the bytes each
/// way, and how it ended; for a terminal session, its recording.
///
/// The multiplexer tells it what happens (``ChannelMultiplexer``): the open's decision, the data and messages in
/// and out, the result just before it is written, or the close. Its line is written once, at the first of the
/// result, the refusal or the close, so before the client hears the outcome.
final class OperationAudit {
    private let connection: ConnectionAudit
    private let channel: UInt32
    private let parameters: ChannelMessage.Open.Parameters
    /// The command a key's `command=` runs instead of the client's.
    private let forcedCommand: String?
    /// What the client asked for, as both lines give it.
    private let what: [(String, JSONValue)]
    private let started = NIODeadline.now()
    /// Data bytes from the client, and to it.
    private var bytesIn: Int64 = 0
    private var bytesOut: Int64 = 0
    /// What the accept said: a download's size and offset, an upload's offset, a command's pid.
    private var accepted: [(String, JSONValue)] = []
    /// An upload's digest, as the client's `file.end` gave it.
    private var clientDigest: String?
    private var recording: SessionRecording?
    /// The session was to be recorded, and its file could not be made.
    private var recordingFailed = false
    private var written = false

    /// Writes the operation's `started` line: before the service acts on it (a command is spawned, a file
    /// opened), so that an operation that never ends (the server killed meanwhile) is still in the log.
    init(connection: ConnectionAudit, channel: UInt32, open: ChannelMessage.Open, forcedCommand: String?) {
        self.connection = connection
        self.channel = channel
        self.parameters = open.parameters
        self.forcedCommand = forcedCommand
        self.what = Self.what(open.parameters, forcedCommand: forcedCommand)
        if connection.trail.log != nil {
            connection.record(
                operation: event, [("channel", .integer(channel))] + what + [("outcome", .string("started"))])
        }
    }

    /// The line's `event`: the service; never a name the client chose.
    private var event: String {
        parameters.service?.rawValue ?? "open"
    }

    deinit {
        recording?.close()
    }

    /// The service accepted the channel; a terminal session's recording starts.
    func accepted(_ accept: ChannelMessage.Accept) {
        switch accept.details {
        case .exec(let pid):
            accepted.append(("pid", .integer(pid)))
            if case .exec(let request) = parameters, let terminal = request.pty, pid > 0,
                let recordings = connection.trail.recordings
            {
                let command = forcedCommand.map { ["/bin/sh", "-c", $0] } ?? request.argv
                recording = recordings.start(
                    who: connection.recordingName, connection: connection.number, channel: channel,
                    terminal: terminal, command: command, title: "\(connection.description) from \(connection.peer)")
                if recording == nil { recordingFailed = true }
            }
        case .fileGet(let header):
            accepted += [("size", .integer(header.size)), ("offset", .integer(header.offset))]
        case .filePut(let resume):
            accepted.append(("offset", .integer(resume.offset)))
        default:
            break
        }
    }

    /// The service refused the channel.
    func refused(_ error: ProtocolError) {
        write(outcome: "refused", [("error", ConnectionAudit.error(error))])
    }

    /// Data from the client.
    func received(data bytes: Int) {
        bytesIn += Int64(bytes)
    }

    /// A message from the client.
    func received(_ message: ChannelMessage) {
        switch message {
        // The first, which the receiver verifies; it ignores any after it.
        case .fileEnd(let end) where clientDigest == nil: clientDigest = end.digest
        case .execResize(let size): recording?.resize(rows: size.rows, cols: size.cols)
        default: break
        }
    }

    /// Data to the client: `bytes` on `stream`.
    func sent(_ bytes: ByteBuffer, on stream: Frame.Stream) {
        bytesOut += Int64(bytes.readableBytes)
        if stream == .output { recording?.output(bytes) }
    }

    /// The channel's result, about to be written: `exec.exit`, `done` or `fail`. Other messages are ignored.
    func finishing(with result: ChannelMessage) {
        switch result {
        case .execExit(let exit):
            var fields: [(String, JSONValue)] = []
            if let status = exit.status { fields.append(("exitStatus", .integer(status))) }
            if let signal = exit.signal { fields.append(("signal", .string(signal))) }
            if exit.timedOut { fields.append(("timedOut", .bool(true))) }
            write(outcome: "completed", fields)
        case .done(.fileGet(let end)):
            write(outcome: "completed", [("digest", .string(end.digest))])
        case .done(.filePut):
            write(outcome: "completed", uploadDigest)
        case .done:
            write(outcome: "completed", [])
        case .fail(let error):
            write(outcome: "failed", [("error", ConnectionAudit.error(error))])
        default:
            break
        }
    }

    /// The channel ended without a result: the client closed it, broke one of its rules (`error`), or the
    /// connection ended. An upload whose rename had begun when its channel closed is in place (`uploaded`), and
    /// its line says so.
    func ended(_ error: ProtocolError?, uploaded: Bool) {
        if uploaded, case .filePut = parameters {
            write(outcome: "completed", uploadDigest)
        } else if let error {
            write(outcome: "failed", [("error", ConnectionAudit.error(error))])
        } else {
            write(outcome: "closed", [])
        }
        recording?.close()
    }

    private func write(outcome: String, _ result: [(String, JSONValue)]) {
        guard !written else { return }
        written = true
        guard connection.trail.log != nil else { return }
        var fields: [(String, JSONValue)] = [("channel", .integer(channel))] + what + accepted
        fields.append(("outcome", .string(outcome)))
        fields += result
        if let recording { fields.append(("recording", .string(recording.path))) }
        if recordingFailed { fields.append(("recordingFailed", .bool(true))) }
        fields += [
            ("bytesIn", .integer(bytesIn)), ("bytesOut", .integer(bytesOut)),
            ("duration", .seconds(ConnectionAudit.seconds(since: started))),
        ]
        connection.record(operation: event, fields)
    }

    /// An upload's digest, the one its receiver verified.
    private var uploadDigest: [(String, JSONValue)] {
        clientDigest.map { [("digest", .string($0))] } ?? []
    }

    /// What the client asked for in `parameters`.
    private static func what(_ parameters: ChannelMessage.Open.Parameters, forcedCommand: String?)
        -> [(String, JSONValue)]
    {
        switch parameters {
        case .exec(let request):
            var fields: [(String, JSONValue)] = [("argv", .array(AuditText.cut(request.argv).map(JSONValue.string)))]
            if let forcedCommand { fields.append(("command", .string(forcedCommand))) }
            if let cwd = request.cwd { fields.append(("cwd", .string(AuditText.cut(cwd)))) }
            fields.append(("pty", .bool(request.pty != nil)))
            return fields
        case .fileGet(let request):
            return [("path", .string(AuditText.cut(request.path)))]
        case .filePut(let request):
            return [("path", .string(AuditText.cut(request.path))), ("size", .integer(request.size))]
        case .fileList(let request):
            return [("path", .string(AuditText.cut(request.path))), ("recursive", .bool(request.recursive ?? false))]
        case .forward(let request):
            var fields: [(String, JSONValue)] = [
                ("target", .string(AuditText.cut(ForwardRule.address(request.host, request.port))))
            ]
            if let host = request.originHost {
                fields.append(("origin", .string(ForwardRule.address(host, request.originPort ?? 0))))
            }
            return fields
        case .chat(let join):
            return [("room", .string(AuditText.cut(join.room))), ("name", .string(AuditText.cut(join.name)))]
        case .echo:
            return []
        case .unknown(let service):
            return [("service", .string(AuditText.cut(service)))]
        }
    }
}

/// Client text as an audit line holds it: cut to ``maxCharacters`` characters (Unicode scalars), the cut marked
/// with `…`, so that one request cannot make a line many times its own size (JSON may write a character as a
/// six-byte escape).
enum AuditText {
    /// The most characters of one string, or of an argv together, that a line keeps.
    static let maxCharacters = 4096

    static func cut(_ text: String) -> String {
        var scalars = text.unicodeScalars.prefix(maxCharacters + 1)
        guard scalars.count > maxCharacters else { return text }
        scalars = scalars.prefix(maxCharacters)
        return String(String.UnicodeScalarView(scalars)) + "…"
    }

    /// An argv cut to ``maxCharacters`` in all, each word counting at least one: the word that overflows is
    /// cut to what is left, and a last word `…` marks the cut.
    static func cut(_ argv: [String]) -> [String] {
        var left = maxCharacters
        var kept: [String] = []
        for word in argv {
            let size = max(1, word.unicodeScalars.count)
            guard size <= left else {
                if left > 0 { kept.append(String(String.UnicodeScalarView(word.unicodeScalars.prefix(left)))) }
                return kept + ["…"]
            }
            left -= size
            kept.append(word)
        }
        return kept
    }
}
