import CPorterSystem
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Lists a directory, or a whole tree, beneath a ``ConfinedDirectory`` without following symlinks.
struct DirectoryWalk {
    /// The most entries one listing may hold; a larger tree is refused rather than buffered.
    var limit: Int

    /// What `components` is and its entries: a file lists as itself; a directory lists first its own entry, as
    /// `.`, then its entries (its whole tree if `recursive`, each directory before its contents), sorted by name.
    /// Entries whose names are not valid UTF-8 are left out, and their names (escaped, see
    /// ``TerminalText/escaped(bytes:)``) returned in `skipped`; they count towards ``limit`` too.
    func list(
        _ root: ConfinedDirectory, _ components: [String], recursive: Bool
    ) throws(ProtocolError) -> (type: ControlMessage.FileType, entries: [ControlMessage.FileEntry], skipped: [String]) {
        let top = try root.open(components, flags: O_RDONLY)
        defer { close(top) }
        let this = try ConfinedDirectory.entry(of: top, path: components.last ?? ".")
        guard this.type == .directory else { return (this.type, [this], []) }
        var entries = [ControlMessage.FileEntry(copying: this, path: ".")]
        var skipped: [String] = []
        try walk(top, prefix: "", recursive: recursive, into: &entries, skipped: &skipped)
        return (.directory, entries, skipped)
    }

    private func walk(
        _ directory: CInt, prefix: String, recursive: Bool, into entries: inout [ControlMessage.FileEntry],
        skipped: inout [String]
    ) throws(ProtocolError) {
        var names: [String] = []
        let reading = dup(directory)
        guard reading >= 0, let stream = fdopendir(reading) else {
            throw ConfinedDirectory.failure(errno, prefix.isEmpty ? "." : prefix)
        }
        defer { closedir(stream) }
        while let item = readdir(stream) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                let bytes = raw.prefix(while: { $0 != 0 })
                return String(validating: bytes, as: UTF8.self)
            }
            guard let name else {
                guard entries.count + skipped.count < limit else {
                    throw ProtocolError(.limitExceeded, "the listing has more than \(limit) entries")
                }
                let shown = withUnsafeBytes(of: item.pointee.d_name) { raw in
                    TerminalText.escaped(bytes: raw.prefix(while: { $0 != 0 }))
                }
                skipped.append(TerminalText.escaped(prefix) + shown)
                continue
            }
            if name != ".", name != ".." { names.append(name) }
        }
        for name in names.sorted() {
            var status = stat()
            guard fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { continue }  // removed meanwhile
            guard entries.count + skipped.count < limit else {
                throw ProtocolError(.limitExceeded, "the listing has more than \(limit) entries")
            }
            var entry = ControlMessage.FileEntry(status, path: prefix + name)
            if entry.type == .symlink {
                entry.target = ConfinedDirectory.readLink(directory, name: name, size: Int(status.st_size))
            }
            entries.append(entry)
            if recursive, entry.type == .directory {
                let child = porter_open_beneath(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
                guard child >= 0 else { throw ConfinedDirectory.failure(errno, entry.path) }
                defer { close(child) }
                try walk(child, prefix: entry.path + "/", recursive: true, into: &entries, skipped: &skipped)
            }
        }
    }
}

extension ControlMessage.FileEntry {
    /// `entry` under another path.
    init(copying entry: ControlMessage.FileEntry, path: String) {
        self = entry
        self.path = path
    }
}
