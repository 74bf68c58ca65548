import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// The progress bar of `get` and `put` on standard error: per file, bytes, rate and time left; for a tree also
/// the files done and bytes in all. Redrawn at most ten times a second.
final class TransferDisplay: Sendable {
    private struct State {
        var lastDraw: ContinuousClock.Instant?
        var fileStarted = ContinuousClock.now
        var currentPath = ""
        var filesDone = 0
        var bytesDone: Int64 = 0
        var drawn = false
    }

    private let state = Locked(State())
    private let columns: Int

    init() {
        var size = winsize()
        columns = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 20 ? Int(size.ws_col) : 80
    }

    /// Takes a progress report from the transfer.
    func update(_ progress: TransferProgress) {
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            if progress.path != state.currentPath {
                state.currentPath = progress.path
                state.fileStarted = now
            }
            if progress.finished {
                state.filesDone += 1
                state.bytesDone += progress.size
            } else if let last = state.lastDraw, now - last < .milliseconds(100) {
                return nil
            }
            state.lastDraw = now
            state.drawn = true
            let elapsed = max((now - state.fileStarted).seconds, 0.001)
            let moved = progress.bytes - progress.resumedFrom
            let rate = Double(moved) / elapsed
            let percent = progress.size > 0 ? Int(100 * progress.bytes / progress.size) : 100
            var text =
                "\(percent)% \(Self.bytes(progress.bytes))/\(Self.bytes(progress.size)) \(Self.bytes(Int64(rate)))/s"
            if !progress.finished, rate > 0 {
                text += " ETA \(Self.clock(Double(progress.size - progress.bytes) / rate))"
            }
            // A tree's totals, once a file before this one is done.
            if state.filesDone - (progress.finished ? 1 : 0) > 0 {
                text += " | \(state.filesDone) files, \(Self.bytes(state.bytesDone)) done"
            }
            let room = max(columns - text.count - 3, 8)
            var name = TerminalText.escaped(progress.path)
            if name.count > room { name = "…" + name.suffix(room - 1) }
            return "\r\u{1B}[K\(name)  \(text)"
        }
        if let line { Terminal.prompt(line) }
    }

    /// Ends the progress line.
    func finish() {
        if state.withLock({ $0.drawn }) { Terminal.prompt("\r\u{1B}[K") }
    }

    /// The summary line (and one line per skipped entry) on standard error.
    static func report(_ summary: TransferSummary, verb: String, elapsed: Duration) {
        for skipped in summary.skipped { Terminal.error("skipped \(skipped)") }
        let seconds = max(elapsed.seconds, 0.000_001)
        var parts = ["\(summary.files) file\(summary.files == 1 ? "" : "s")"]
        if summary.directories > 0 {
            parts.append("\(summary.directories) director\(summary.directories == 1 ? "y" : "ies")")
        }
        if summary.symlinks > 0 { parts.append("\(summary.symlinks) symlink\(summary.symlinks == 1 ? "" : "s")") }
        if !summary.skipped.isEmpty { parts.append("\(summary.skipped.count) skipped") }
        var line = "\(verb) \(parts.joined(separator: ", ")), \(bytes(summary.bytes))"
        if summary.bytesSent != summary.bytes { line += " (\(bytes(summary.bytesSent)) sent, the rest resumed)" }
        let rate = bytes(Int64(Double(summary.bytesSent) / seconds))
        line += " in \(FixedPoint.text(seconds, places: 2)) s (\(rate)/s), verified"
        if summary.files == 1, summary.directories == 0, let digest = summary.digest {
            line += ", \(summary.checksum.rawValue) \(digest)"
        }
        Terminal.error(line)
    }

    /// `1.5 MiB` and friends.
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(FixedPoint.text(value, places: 1)) \(units[unit])"
    }

    private static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        return total >= 3600
            ? "\(total / 3600):\(FixedPoint.padded(total / 60 % 60, width: 2)):\(FixedPoint.padded(total % 60, width: 2))"
            : "\(total / 60):\(FixedPoint.padded(total % 60, width: 2))"
    }
}
