import Porter
import PorterProtocol

/// The `progress` and `file` events of a `get` or `put` with `--json`.
///
/// `progress` comes at most once per ``interval`` across the whole transfer (never flooding a script's pipe),
/// and always once more when a file is complete; then that file's `file` event.
final class TransferEvents: Sendable {
    /// The least time between two `progress` events that are not a file's last.
    static let interval: Duration = .milliseconds(250)

    private let output: EventOutput
    private let showsProgress: Bool
    private let checksum: ControlMessage.Checksum
    private let lastProgress = Locked<ContinuousClock.Instant?>(nil)

    /// Events on `output`; `progress` ones only if `showsProgress` (no `--no-progress`).
    init(output: EventOutput, showsProgress: Bool, checksum: ControlMessage.Checksum) {
        self.output = output
        self.showsProgress = showsProgress
        self.checksum = checksum
    }

    /// Takes a progress report from the transfer.
    func update(_ progress: TransferProgress) {
        if showsProgress, progress.finished || isDue() {
            output.report(
                JSONEvent(
                    "progress",
                    [
                        "path": .string(progress.path), "bytes": .integer(progress.bytes),
                        "total": .integer(progress.size),
                    ]
                ))
        }
        guard progress.finished else { return }
        output.report(
            JSONEvent(
                "file",
                [
                    "path": .string(progress.path), "bytes": .integer(progress.size),
                    "resumedFrom": .integer(progress.resumedFrom), "checksum": .string(checksum.rawValue),
                    "digest": progress.digest.map(JSONValue.string), "mode": .mode(progress.mode),
                    "mtime": .integer(progress.mtime.seconds),
                    "mtimeNanoseconds": .integer(progress.mtime.nanoseconds),
                ]))
    }

    /// Whether a `progress` event is due, noting it as sent if so.
    private func isDue() -> Bool {
        let now = ContinuousClock.now
        return lastProgress.withLock { last in
            if let last, now - last < Self.interval { return false }
            last = now
            return true
        }
    }
}
