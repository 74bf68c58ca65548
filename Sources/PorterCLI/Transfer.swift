import ArgumentParser
import Porter
import PorterProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Options shared by `get` and `put`.
struct TransferFlags: ParsableArguments {
    @Flag(name: .short, help: "Copy a directory tree (mode, times and inside symlinks kept).")
    var recursive = false

    @Flag(name: .customLong("resume"), help: "Continue an interrupted transfer after verifying the part already there.")
    var resume = false

    @Flag(name: .customLong("no-progress"), help: "Show no progress bar, even on a terminal.")
    var noProgress = false

    @Option(
        name: .customLong("checksum"),
        help: "The digest that verifies every file: xxh128 (as xxh128sum) or sha256 (as sha256sum).")
    var checksum: ControlMessage.Checksum = .default

    /// Connects and runs `body` with these options and a progress bar if wanted, then prints the summary; with
    /// `--json`, `progress` and `file` events and a `done` event instead.
    func transfer(
        over connection: ConnectionOptions, verb: String,
        _ body: (ClientConnection, TransferOptions) async throws -> TransferSummary
    ) async throws {
        let events = connection.output.events
        let display = events.json ? nil : display()
        var options = options(display: display)
        if events.json {
            let transfer = TransferEvents(output: events, showsProgress: !noProgress, checksum: checksum)
            options.progress = { transfer.update($0) }
        }
        let clock = ContinuousClock()
        let started = clock.now
        let summary = try await connection.withConnection { connection in try await body(connection, options) }
        display?.finish()
        let elapsed = clock.now - started
        for skipped in summary.skipped {
            events.report(JSONEvent("warning", ["message": .string("skipped \(skipped)")]))
        }
        events.done([
            ("files", .integer(summary.files)), ("directories", .integer(summary.directories)),
            ("symlinks", .integer(summary.symlinks)), ("skipped", .integer(summary.skipped.count)),
            ("bytes", .integer(summary.bytes)), ("bytesSent", .integer(summary.bytesSent)),
            ("seconds", .seconds(elapsed.seconds)), ("checksum", .string(summary.checksum.rawValue)),
        ])
        events.human { TransferDisplay.report(summary, verb: verb, elapsed: elapsed) }
    }

    /// Transfer options with a progress bar on standard error when it is a terminal.
    func options(display: TransferDisplay?) -> TransferOptions {
        var options = TransferOptions(resume: resume, checksum: checksum)
        if let display { options.progress = { display.update($0) } }
        return options
    }

    /// The progress display, if one should be shown.
    func display() -> TransferDisplay? {
        noProgress || isatty(STDERR_FILENO) != 1 ? nil : TransferDisplay()
    }
}

extension ControlMessage.Checksum: ExpressibleByArgument {}

extension PorterCommand {
    /// `porter get`: download a file or a tree.
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Download a file (or with -r a directory) from the server's root, verified end to end.",
            discussion: """
                LOCAL defaults to the remote name in the current directory; an existing directory receives the \
                file under its remote name. The file is written as .NAME.porter-part and renamed into place only \
                once its digest (XXH3-128, or SHA-256 with --checksum sha256) matches the server's.
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The file or directory on the server, relative to its root.") var remote: String
        @Argument(help: "Where to put it.", completion: .file()) var local: String?
        @OptionGroup var flags: TransferFlags

        func validate() throws {
            for name in [remote, local].compactMap({ $0 }) {
                if let problem = ArgumentBytes.problem(with: name) { throw ValidationError(problem) }
            }
            if !flags.recursive, TransferTarget.isRoot(remote) {
                throw ValidationError(
                    "'\(TerminalText.escaped(remote))' is a directory (the server's root); use -r to copy a tree")
            }
        }

        func run() async throws {
            try await flags.transfer(over: connection, verb: "got") { connection, options in
                let target = try TransferTarget.local(for: remote, given: local)
                guard !flags.recursive else {
                    return try await connection.downloadTree(remote, to: target, options: options)
                }
                do {
                    return try await connection.download(remote, to: target, options: options)
                } catch let error as PorterError where error.kind == .refused {
                    // Asked only once refused, so that getting a file costs no extra round trip.
                    guard (try? await connection.list(remote))?.type == .directory else { throw error }
                    throw PorterError(
                        .refused,
                        "'\(TerminalText.escaped(remote))' is a directory on the server; use -r to copy a tree")
                }
            }
        }
    }

    /// `porter put`: upload a file or a tree.
    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "put",
            abstract: "Upload a file (or with -r a directory) into the server's root, verified end to end.",
            discussion: """
                REMOTE defaults to the local name in the server's root; an existing directory receives the file \
                under its local name. The server renames the file into place only once its digest matches.
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The local file or directory.", completion: .file()) var local: String
        @Argument(help: "Where to put it on the server, relative to its root.") var remote: String?
        @OptionGroup var flags: TransferFlags

        func validate() throws {
            for name in [local, remote].compactMap({ $0 }) {
                if let problem = ArgumentBytes.problem(with: name) { throw ValidationError(problem) }
            }
            var isDirectory = false
            if !flags.recursive, FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory),
                isDirectory
            {
                throw ValidationError("'\(TerminalText.escaped(local))' is a directory; use -r to copy a tree")
            }
        }

        func run() async throws {
            try await flags.transfer(over: connection, verb: "put") { connection, options in
                let target = try await TransferTarget.remote(for: local, given: remote, on: connection)
                return flags.recursive
                    ? try await connection.uploadTree(local, to: target, options: options)
                    : try await connection.upload(local, to: target, options: options)
            }
        }
    }

    /// `porter ls`: list a directory on the server.
    struct Ls: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List a directory (or show a file) under the server's root: mode, size, time and name.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The path, relative to the server's root.") var remote: String = "."
        @Flag(name: .short, help: "List the whole tree.") var recursive = false

        func run() async throws {
            let events = connection.output.events
            let listing = try await connection.withConnection { connection in
                try await connection.list(remote, recursive: recursive)
            }
            guard !events.json else {
                for entry in listing.entries { events.report(Self.event(entry)) }
                for line in listing.unreadable { events.warning("not shown: \(line)") }
                events.done([("kind", .string(listing.type.rawValue)), ("entries", .integer(listing.entries.count))])
                return
            }
            let width = listing.entries.map { String($0.size).count }.max() ?? 1
            for entry in listing.entries {
                let size = String(entry.size)
                var line = "\(Self.modeString(entry))  \(String(repeating: " ", count: width - size.count))\(size)"
                line += "  \(LocalTime.minutes(sinceEpoch: entry.mtime.seconds))  \(TerminalText.escaped(entry.path))"
                if let target = entry.target { line += " -> \(TerminalText.escaped(target))" }
                Terminal.line(line)
            }
            for line in listing.unreadable { Terminal.error("not shown: \(line)") }
        }

        /// The `entry` event of `entry`.
        static func event(_ entry: ControlMessage.FileEntry) -> JSONEvent {
            JSONEvent(
                "entry",
                [
                    "path": .string(entry.path), "kind": .string(entry.type.rawValue), "size": .integer(entry.size),
                    "mode": .mode(entry.mode), "mtime": .integer(entry.mtime.seconds),
                    "mtimeNanoseconds": .integer(entry.mtime.nanoseconds), "target": entry.target.map(JSONValue.string),
                ])
        }

        /// `-rwxr-xr-x` and friends.
        static func modeString(_ entry: ControlMessage.FileEntry) -> String {
            let type: Character =
                switch entry.type {
                case .file: "-"
                case .directory: "d"
                case .symlink: "l"
                case .other: "?"
                }
            let letters = Array("rwxrwxrwx")
            let bits = (0..<9).map { index in entry.mode & (1 << (8 - index)) != 0 ? letters[index] : "-" }
            return String([type] + bits)
        }
    }
}

/// Where a transfer's destination is, the way cp and scp decide it.
enum TransferTarget {
    /// The local destination for `remote`: `local` itself, or inside it when it is an existing directory.
    static func local(for remote: String, given local: String?) throws -> String {
        let name = try lastName(of: remote)
        guard let local else { return name ?? "." }
        var isDirectory = false
        if FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory,
            let name
        {
            return local.hasSuffix("/") ? local + name : local + "/" + name
        }
        return local
    }

    /// The remote destination for `local`: `remote` itself, or inside it when it is a directory on the server.
    static func remote(for local: String, given remote: String?, on connection: ClientConnection) async throws
        -> String
    {
        guard let name = try lastName(of: local) else {
            throw PorterError(.configuration, "\(TerminalText.escaped(local)) does not name a file or directory")
        }
        guard let remote else { return name }
        let listing: RemoteListing
        do {
            listing = try await connection.list(remote)
        } catch let error as PorterError where error.code == .notFound {
            return remote
        }
        return listing.type == .directory ? (remote.hasSuffix("/") ? remote + name : remote + "/" + name) : remote
    }

    /// Whether `remote` names the server's root.
    static func isRoot(_ remote: String) -> Bool {
        (try? PeerPath.components(of: remote))?.isEmpty == true
    }

    /// The last name in `path`, or `nil` for a root or `.`.
    private static func lastName(of path: String) throws -> String? {
        let name = path.split(separator: "/").last.map(String.init)
        guard let name, name != "." else { return nil }
        guard name != ".." else { throw PorterError(.configuration, "name the file itself, not '..'") }
        return name
    }
}
