import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The audit log of `serve --audit-log FILE` (docs/AUDIT.md): one JSON object per line, appended, for every
/// authentication attempt and every operation.
///
/// Each line is one `write(2)` to a descriptor opened with `O_APPEND`, made before the client hears the outcome
/// it records, on the thread that decided it (a connection's event loop). A line is usually a few hundred bytes
/// (client text in it is cut, ``AuditText``, so never more than some tens of kilobytes) to the page cache, which
/// takes microseconds; it is not `fsync`ed, so a line written survives the server's crash but not the machine's. ``reopen()`` (on SIGHUP) opens the path again, for log rotation.
///
/// A line that cannot be written (the disk is full) is lost, and the server log says so once for each run of
/// failures; the operations go on. The audit log records; it is not a gate.
public final class AuditLog: Sendable {
    /// The file's path.
    public let path: String
    private let state: Mutex<State>
    private let logger: Logger

    private struct State {
        var descriptor: CInt
        /// The last write failed: the next failure is not logged again.
        var failing = false
    }

    /// Opens (or creates, mode 0600) the audit log at `path` for appending.
    ///
    /// - Throws: ``PorterError`` (`configuration`) if it cannot be opened.
    public init(path: String, logger: Logger) throws(PorterError) {
        self.path = path
        self.logger = logger
        let descriptor = try Self.open(path)
        self.state = Mutex(State(descriptor: descriptor))
        var info = stat()
        if fstat(descriptor, &info) == 0, info.st_mode & 0o026 != 0 {
            // Made by someone else, or before: argv and paths may be secrets, and lines must be this server's.
            logger.warning(
                "the audit log \(path) is readable by other users or writable by its group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it"
            )
        }
    }

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { Glibc.close(state.descriptor) }
        }
    }

    /// Opens the path again and writes there from now on: after a rotation moved the file away, a new file
    /// takes its name. If it cannot be opened, the old descriptor stays in use.
    public func reopen() throws(PorterError) {
        let descriptor = try Self.open(path)
        let old = state.withLock { state in
            let old = state.descriptor
            state.descriptor = descriptor
            state.failing = false
            return old
        }
        Glibc.close(old)
    }

    /// Appends one line: `time` (UTC, to the millisecond), `event`, then `fields` in order.
    func record(_ event: String, _ fields: [(String, JSONValue)]) {
        var text = ""
        JSONValue.object([("time", .string(AuditClock.timestamp())), ("event", .string(event))] + fields)
            .write(to: &text)
        text += "\n"
        let failure: CInt? = state.withLock { state in
            let failure = DescriptorWrite.all(text, to: state.descriptor)
            defer { state.failing = failure != nil }
            return state.failing ? nil : failure
        }
        if let failure {
            logger.error("cannot write the audit log \(path): \(String(cString: strerror(failure))); lines are lost")
        }
    }

    private static func open(_ path: String) throws(PorterError) -> CInt {
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PorterError(.configuration, "cannot open the audit log \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }
}

/// The wall clock as the audit log and the recordings write it.
enum AuditClock {
    /// Now in UTC as RFC 3339 to the millisecond: `2026-12-04T09:30:00.123Z`.
    static func timestamp() -> String {
        let (parts, nanoseconds) = now()
        return "\(digits(parts.tm_year + 1900, 4))-\(digits(parts.tm_mon + 1, 2))-\(digits(parts.tm_mday, 2))T"
            + "\(digits(parts.tm_hour, 2)):\(digits(parts.tm_min, 2)):\(digits(parts.tm_sec, 2))."
            + "\(digits(Int32(nanoseconds / 1_000_000), 3))Z"
    }

    /// Now in UTC, compact, for a file name: `20261204T093000Z`.
    static func compactTimestamp() -> String {
        let (parts, _) = now()
        return "\(digits(parts.tm_year + 1900, 4))\(digits(parts.tm_mon + 1, 2))\(digits(parts.tm_mday, 2))T"
            + "\(digits(parts.tm_hour, 2))\(digits(parts.tm_min, 2))\(digits(parts.tm_sec, 2))Z"
    }

    /// Seconds since 1970, as a recording's header gives its start.
    static func unixSeconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time.tv_sec
    }

    private static func now() -> (tm, Int) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (parts, time.tv_nsec)
    }

    private static func digits(_ value: Int32, _ count: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, count - text.count)) + text
    }
}
