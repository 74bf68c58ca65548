import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The servers a client has met, as ssh's known_hosts: one `HOST:PORT SHA256:…` line per server identity.
///
/// Lines starting with `#` and blank lines are ignored, as are lines that do not parse. A host may appear on
/// several lines; an identity matching any of them is trusted.
public struct KnownHosts: Sendable {
    /// `~/.porter/known_hosts`.
    public static var defaultPath: String { PorterDirectory.path + "/known_hosts" }

    /// What the file says of a host and the identity it presented.
    public enum Verdict: Sendable, Equatable {
        /// A line records this identity for this host.
        case known
        /// No line names this host.
        case unknown
        /// The host is recorded with another identity, first on `line` (numbered from 1).
        case changed(line: Int, recorded: Fingerprint)
    }

    /// The largest known-hosts file read: about 100,000 servers.
    public static let maximumSize = 8 * 1024 * 1024

    /// The file's path.
    public let path: String

    /// A known-hosts file at `path`, which need not exist yet.
    public init(path: String = KnownHosts.defaultPath) {
        self.path = path
    }

    /// What the file says of `host` presenting `fingerprint`.
    public func verdict(for host: String, presenting fingerprint: Fingerprint) throws(PorterError) -> Verdict {
        var changed: Verdict?
        for (number, line) in try lines().enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, !fields[0].hasPrefix("#"), fields[0] == host,
                let recorded = Fingerprint(String(fields[1]))
            else { continue }
            if recorded == fingerprint { return .known }
            if changed == nil { changed = .changed(line: number + 1, recorded: recorded) }
        }
        return changed ?? .unknown
    }

    /// Appends a line recording `fingerprint` for `host`, creating the file (mode 0600) if needed.
    public func record(_ fingerprint: Fingerprint, for host: String) throws(PorterError) {
        let existing = try contents() ?? ""
        try PorterDirectory.createParent(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PorterError(.configuration, "cannot write known hosts file \(path): \(errnoDescription())")
        }
        defer { close(fd) }
        // Append after a final line that lacks its newline, rather than joining the two.
        let separator = existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n"
        let text = "\(separator)\(host) \(fingerprint)\n"
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw PorterError(.configuration, "cannot write known hosts file \(path): \(errnoDescription())")
        }
    }

    /// The file's lines; none if it does not exist.
    private func lines() throws(PorterError) -> [Substring] {
        guard let text = try contents() else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    private func contents() throws(PorterError) -> String? {
        guard let bytes = try LocalFile.readIfPresent(path, what: "known hosts file", limit: Self.maximumSize) else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
