extension ControlMessage {
    /// The ranges every number in a control message must lie in. A message is checked against them as it is
    /// decoded (``init(payload:)``), so no code behind the decoder ever sees an absurd value: a timeout of 1e19
    /// seconds, a negative size, a mode with file-type bits, a terminal of a million rows.
    public enum Ranges {
        /// The longest command timeout, in seconds: one year.
        public static let maxTimeout: Double = 365 * 24 * 3600
        /// Terminal rows and columns.
        public static let terminalSize: ClosedRange<Int> = 1...10_000
        /// The longest `TERM` value, in bytes.
        public static let maxTermLength = 256
        /// File sizes and offsets: up to 2^62 bytes (4 EiB), far beyond any file system, yet exact as a JSON number
        /// read by a 64-bit integer decoder.
        public static let fileSize: ClosedRange<Int64> = 0...(1 << 62)
        /// Permission bits: the file-type bits of `st_mode` are not part of a mode.
        public static let mode: ClosedRange<UInt32> = 0...0o7777
        /// Modification times, in seconds since 1970: from year 1 to year 9999.
        public static let fileTimeSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799
        /// Nanoseconds of a time.
        public static let nanoseconds: ClosedRange<Int> = 0...999_999_999
        /// Window grants and initial windows, in bytes.
        public static let window: ClosedRange<Int> = 0...(1 << 31)
        /// Exit statuses.
        public static let exitStatus: ClosedRange<Int> = 0...255
        /// Signal numbers.
        public static let signalNumber: ClosedRange<Int> = 1...128
        /// Process ids (0 when a command could not start).
        public static let pid: ClosedRange<Int> = 0...Int(Int32.max)
        /// Frame payload limits a server may announce.
        public static let payloadLimit: ClosedRange<Int> = 1...Int(UInt32.max)
        /// An announced idle timeout, in whole seconds (0: none).
        public static let idleTimeout: ClosedRange<Int> = 0...(365 * 24 * 3600)
        /// Versions a `hello` may offer.
        public static let maxVersions = 64
        /// A count of entries a listing skipped.
        public static let skipped: ClosedRange<Int> = 0...Int(UInt32.max)
    }

    /// Checks every number in the message against ``Ranges``.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage``, naming the field and its range.
    public func validate() throws(ProtocolError) {
        switch self {
        case .hello(let hello):
            guard hello.versions.count <= Ranges.maxVersions else {
                throw ProtocolError(.badMessage, "'hello' offers more than \(Ranges.maxVersions) versions")
            }
        case .welcome(let welcome):
            try checkRange(welcome.limits.maxControlPayload, in: Ranges.payloadLimit, "limits.maxControlPayload")
            try checkRange(welcome.limits.maxDataPayload, in: Ranges.payloadLimit, "limits.maxDataPayload")
            try checkRange(welcome.limits.idleTimeout, in: Ranges.idleTimeout, "limits.idleTimeout")
        case .exec(let exec):
            if let timeout = exec.timeout {
                guard timeout > 0, timeout <= Ranges.maxTimeout else {
                    throw ProtocolError(
                        .badMessage,
                        "'timeout' must be more than 0 and at most \(Int(Ranges.maxTimeout)) seconds (one year)")
                }
            }
            if let pty = exec.pty { try pty.validate("pty") }
        case .execResize(let terminal):
            try terminal.validate("")
        case .execStarted(let started):
            try checkRange(started.pid, in: Ranges.pid, "pid")
            try checkRange(started.window, in: Ranges.window, "window")
        case .execWindow(let window):
            try checkRange(window.bytes, in: Ranges.window, "bytes")
        case .execExit(let exit):
            if let status = exit.status { try checkRange(status, in: Ranges.exitStatus, "status") }
            if let number = exit.signalNumber { try checkRange(number, in: Ranges.signalNumber, "signalNumber") }
            guard exit.duration >= 0, exit.duration.isFinite else {
                throw ProtocolError(.badMessage, "'duration' must be a number of seconds, 0 or more")
            }
        case .fileListing(let listing):
            for entry in listing.entries { try entry.validate("entries") }
            try listing.directory?.validate("directory")
            if let skipped = listing.skipped { try checkRange(skipped, in: Ranges.skipped, "skipped") }
        case .fileGet(let get):
            if let offset = get.offset { try checkRange(offset, in: Ranges.fileSize, "offset") }
        case .fileHeader(let header):
            try checkRange(header.size, in: Ranges.fileSize, "size")
            try checkRange(header.offset, in: 0...header.size, "offset")
            try checkRange(header.mode, in: Ranges.mode, "mode")
            try header.mtime.validate("mtime")
        case .filePut(let put):
            try checkRange(put.size, in: Ranges.fileSize, "size")
            if let mode = put.mode { try checkRange(mode, in: Ranges.mode, "mode") }
            try put.mtime?.validate("mtime")
        case .fileReady(let ready):
            try checkRange(ready.offset, in: Ranges.fileSize, "offset")
        case .fileBegin(let begin):
            try checkRange(begin.offset, in: Ranges.fileSize, "offset")
        case .fileDone(let done):
            if let size = done.size { try checkRange(size, in: Ranges.fileSize, "size") }
        case .fileAttrs(let attributes):
            if let mode = attributes.mode { try checkRange(mode, in: Ranges.mode, "mode") }
            try attributes.mtime?.validate("mtime")
        case .auth, .ready, .ping, .pong, .keepalive, .error, .echo, .end, .chatJoin, .chatJoined, .chatSay,
            .chatMessage, .chatWho, .chatMembers, .chatNick, .chatPrivate, .chatPresence, .chatLeave, .execEOF,
            .execSignal, .fileList, .fileEnd, .fileMkdir, .fileSymlink:
            break
        }
    }
}

extension ControlMessage.Terminal {
    /// Checks the size and `TERM`, naming them under `field`.
    func validate(_ field: String) throws(ProtocolError) {
        let prefix = field.isEmpty ? "" : field + "."
        try checkRange(rows, in: ControlMessage.Ranges.terminalSize, prefix + "rows")
        try checkRange(cols, in: ControlMessage.Ranges.terminalSize, prefix + "cols")
        guard term.utf8.count <= ControlMessage.Ranges.maxTermLength, !term.utf8.contains(0) else {
            throw ProtocolError(
                .badMessage, "'\(prefix)term' must be at most \(ControlMessage.Ranges.maxTermLength) bytes, without NUL"
            )
        }
    }
}

extension ControlMessage.FileEntry {
    /// Checks size, mode and time, naming them under `field`; `sizes` is the version's range of sizes.
    func validate(_ field: String, sizes: ClosedRange<Int64> = ControlMessage.Ranges.fileSize) throws(ProtocolError) {
        try checkRange(size, in: sizes, field + ".size")
        try checkRange(mode, in: ControlMessage.Ranges.mode, field + ".mode")
        try mtime.validate(field + ".mtime")
    }
}

extension ControlMessage.FileTime {
    /// Checks seconds and nanoseconds, naming them under `field`.
    func validate(_ field: String) throws(ProtocolError) {
        try checkRange(seconds, in: ControlMessage.Ranges.fileTimeSeconds, field + ".seconds")
        try checkRange(nanoseconds, in: ControlMessage.Ranges.nanoseconds, field + ".nanoseconds")
    }
}

/// Throws ``ProtocolError/Code/badMessage`` naming `field` unless `range` holds `value`.
func checkRange<Value: Comparable>(_ value: Value, in range: ClosedRange<Value>, _ field: String)
    throws(ProtocolError)
{
    guard range.contains(value) else {
        throw ProtocolError(
            .badMessage, "'\(field)' is \(value), outside \(range.lowerBound)...\(range.upperBound)")
    }
}
