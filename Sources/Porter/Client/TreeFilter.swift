import PorterProtocol

/// Decides which entries of a tree a recursive transfer copies, the same way in both directions: an entry whose
/// path holds a name that is unsafe to create (``PeerPath/problem(withLocalPath:)``) is skipped with the reason,
/// and so, silently, is everything inside it; so is an entry whose directory is not in the tree before it.
struct TreeFilter {
    /// One line per entry left out, names escaped for a terminal.
    private(set) var skipped: [String] = []
    /// The directories taken so far, by path; `""` is the top.
    private var directories: Set<String> = [""]
    /// The directories left out, each as its path and a `/`.
    private var skippedDirectories: [String] = []

    /// The components of `entry`'s path if it is to be copied; otherwise `nil`, and the reason is recorded.
    mutating func components(of entry: ControlMessage.FileEntry) -> [String]? {
        let path = entry.path
        if skippedDirectories.contains(where: { path.utf8.starts(with: $0.utf8) }) { return nil }
        let shown = "'\(TerminalText.escaped(path))'"
        if let problem = PeerPath.problem(withLocalPath: path) {
            skip(entry, "\(shown): \(problem)")
            return nil
        }
        let components = PeerPath.split(path, omittingEmpty: false).map(String.init)
        guard directories.contains(components.dropLast().joined(separator: "/")) else {
            skip(entry, "\(shown): its directory is not in the tree")
            return nil
        }
        if entry.type == .directory { directories.insert(path) }
        return components
    }

    /// Records that `entry` is left out, for `reason` (a whole line).
    mutating func skip(_ entry: ControlMessage.FileEntry, _ reason: String) {
        skipped.append(entry.type == .directory ? reason + " (and everything in it)" : reason)
        if entry.type == .directory { skippedDirectories.append(entry.path + "/") }
    }
}
