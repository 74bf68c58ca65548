import PorterProtocol

/// The client configuration file, `~/.porter/config`: names for servers, so that `porter exec web1 -- uptime`
/// needs no endpoint, fingerprint or token file on the command line. Its shape is ssh_config's:
///
/// ```
/// # ~/.porter/config
/// host web1
///     endpoint 10.0.0.5:7070
///     fingerprint SHA256:GdRTAA26+DrPLiv2ZUJEC4iXC4o7AIwtMCaeQ7QZfIw
///     token-file ~/.porter/web.token
///     connect-timeout 5
/// host web2
///     endpoint 10.0.0.6:7070
/// group web web1 web2
/// ```
///
/// A `host NAME` line starts a block that the next `host` or `group` line ends; inside it, `endpoint` (required),
/// `fingerprint`, `token-file` (`~` expanded; a relative path is relative to the file's directory), `key` (a
/// private key file, as `--key` takes it; expanded as `token-file`),
/// `connect-timeout` (seconds, as `--connect-timeout` takes them) and `plaintext` (no value: connect without TLS)
/// each appear at most once. `group NAME HOST...` names hosts of the file. Keywords are case-insensitive;
/// indentation does not matter. Comments and blank lines are as ``ConfigFileText`` reads them. The first mistake
/// is thrown as one error naming the file and line.
public struct ClientConfigFile: Sendable, Equatable {
    /// The environment variable naming the file when `--config` does not.
    public static let environmentVariable = "PORTER_CONFIG"
    /// `~/.porter/config`.
    public static var defaultPath: String { PorterDirectory.path + "/config" }
    /// How messages name the default file.
    public static let defaultName = "~/.porter/config"
    /// The keywords of a host block.
    public static let hostKeywords = ["endpoint", "fingerprint", "token-file", "key", "connect-timeout", "plaintext"]
    /// The longest host or group name.
    public static let maxNameLength = 64

    /// How messages name the file.
    public var file: String
    /// The named servers, in the file's order.
    public var servers: [NamedServer]
    /// The groups, in the file's order.
    public var groups: [ServerGroup]

    /// A configuration with these entries.
    public init(file: String, servers: [NamedServer] = [], groups: [ServerGroup] = []) {
        self.file = file
        self.servers = servers
        self.groups = groups
    }

    /// Parses the configuration `text`; `file` names it in errors, relative token files are taken from
    /// `directory`, and `~` stands for `home`.
    ///
    /// - Throws: ``PorterError`` naming the file and line of the first mistake.
    public init(parsing text: String, file: String, directory: String, home: String?) throws(PorterError) {
        try self.init(ConfigFileText(text, file: file), directory: directory, home: home)
    }

    /// Parses configuration lines; see ``init(parsing:file:directory:home:)``.
    public init(_ text: ConfigFileText, directory: String, home: String?) throws(PorterError) {
        self.init(file: text.file)
        // The host block being read: its name and line, and each keyword's value and line.
        var block: (name: String, line: Int, values: [String: (value: String?, line: Int)])?
        for line in text.lines {
            let keyword = line.words[0].lowercased()
            let values = Array(line.words.dropFirst())
            switch keyword {
            case "host", "group":
                if let block { try finish(block, text: text, directory: directory, home: home) }
                block = nil
                guard let name = values.first else {
                    throw text.error(
                        line, "'\(keyword)' needs a name: \(keyword) NAME\(keyword == "group" ? " HOST..." : "")")
                }
                try checkNew(name, as: keyword, at: line, in: text)
                if keyword == "group" {
                    guard values.count > 1 else {
                        throw text.error(line, "group \(name) names no hosts: group \(name) HOST...")
                    }
                    groups.append(ServerGroup(name: name, members: Array(values.dropFirst()), line: line.number))
                } else {
                    guard values.count == 1 else {
                        throw text.error(
                            line, "'host' takes one name, got \(values.count) (patterns are not supported)")
                    }
                    block = (name, line.number, [:])
                }
            case _ where Self.hostKeywords.contains(keyword):
                guard var current = block else {
                    throw text.error(
                        line, "'\(keyword)' is outside any host block; start one above it with `host NAME`")
                }
                if let earlier = current.values[keyword] {
                    throw text.error(
                        line, "duplicate '\(keyword)' in host \(current.name) (first on line \(earlier.line))")
                }
                if keyword == "plaintext" {
                    guard values.isEmpty else { throw text.error(line, "'plaintext' takes no value") }
                } else {
                    guard values.count == 1 else {
                        let form = "\(keyword) \(Self.valueName(keyword))"
                        throw text.error(
                            line,
                            values.isEmpty
                                ? "'\(keyword)' needs a value: \(form)"
                                : "'\(keyword)' takes one value, got \(values.count): \(form)")
                    }
                }
                current.values[keyword] = (values.first, line.number)
                block = current
            default:
                let expected =
                    block == nil ? "host or group" : (Self.hostKeywords + ["host", "group"]).joined(separator: ", ")
                throw text.error(line, "unknown keyword '\(line.words[0])' (expected \(expected))")
            }
        }
        if let block { try finish(block, text: text, directory: directory, home: home) }
        for group in groups { try check(group, in: text) }
    }

    /// Reads the configuration in force: `option` (`--config`) if given, else `$PORTER_CONFIG` from
    /// `environment`, else ``defaultPath``. A missing default file is no configuration (`nil`); a missing file
    /// that was named is an error.
    public static func load(option: String?, environment: [String: String]) throws(PorterError) -> ClientConfigFile? {
        let named =
            option.map { ($0, "--config") }
            ?? environment[environmentVariable].flatMap {
                $0.isEmpty ? nil : ($0, "$\(environmentVariable)")
            }
        let (path, file) = named.map { ($0.0, $0.0) } ?? (defaultPath, defaultName)
        guard let text = try ConfigFileText.read(at: path, file: file, what: "config file") else {
            guard let named else { return nil }
            throw PorterError(.configuration, "config file \(path) (from \(named.1)) does not exist")
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try ClientConfigFile(text, directory: directory.isEmpty ? "/" : directory, home: PorterDirectory.home)
    }

    /// The server called `name`.
    public func server(named name: String) -> NamedServer? {
        servers.first { $0.name == name }
    }

    /// The group called `name`.
    public func group(named name: String) -> ServerGroup? {
        groups.first { $0.name == name }
    }

    /// The servers of `group`, in its order.
    public func members(of group: ServerGroup) -> [NamedServer] {
        group.members.compactMap(server(named:))
    }
}

extension ClientConfigFile {
    /// Checks that `name`, on `line`, is a good name used by no host or group above.
    private func checkNew(
        _ name: String, as keyword: String, at line: ConfigFileText.Line, in text: ConfigFileText
    ) throws(PorterError) {
        if let problem = Self.problem(withName: name) { throw text.error(line, problem) }
        if let host = server(named: name) {
            throw text.error(
                line,
                keyword == "host"
                    ? "duplicate host '\(name)' (first on line \(host.line))"
                    : "'\(name)' is already a host (line \(host.line)); a name is a host or a group, not both")
        }
        if let group = group(named: name) {
            throw text.error(
                line,
                keyword == "group"
                    ? "duplicate group '\(name)' (first on line \(group.line))"
                    : "'\(name)' is already a group (line \(group.line)); a name is a host or a group, not both")
        }
    }

    /// Why `name` cannot name a host or group, or `nil`: names are letters, digits, `.`, `_` and `-`, so that
    /// none is mistaken for an endpoint (`:`, `[`, `/`) or an option (a leading `-`).
    static func problem(withName name: String) -> String? {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2E
                || byte == 0x5F || byte == 0x2D
        }
        guard allowed, !name.hasPrefix("-"), name.utf8.count <= maxNameLength else {
            return
                "bad name '\(name)': use at most \(maxNameLength) letters, digits, '.', '_' or '-', not starting with '-'"
        }
        return nil
    }

    /// Turns a finished host block into a ``NamedServer``.
    private mutating func finish(
        _ block: (name: String, line: Int, values: [String: (value: String?, line: Int)]),
        text: ConfigFileText, directory: String, home: String?
    ) throws(PorterError) {
        func value(_ keyword: String) -> (text: String, line: Int)? {
            block.values[keyword].flatMap { entry in entry.value.map { ($0, entry.line) } }
        }
        guard let endpointText = value("endpoint") else {
            throw text.error(line: block.line, "host \(block.name) has no endpoint; add `endpoint HOST:PORT` under it")
        }
        let endpoint: Endpoint
        do {
            endpoint = try Endpoint(parsing: endpointText.text)
        } catch {
            throw text.error(line: endpointText.line, error.message)
        }
        var server = NamedServer(name: block.name, endpoint: endpoint, line: block.line)
        if let fingerprint = value("fingerprint") {
            guard let parsed = Fingerprint(fingerprint.text) else {
                throw text.error(
                    line: fingerprint.line,
                    "bad fingerprint '\(fingerprint.text)': it looks like SHA256: followed by 43 base64 characters (`porter serve --print-fingerprint` shows it)"
                )
            }
            server.fingerprint = parsed
        }
        if let plaintext = block.values["plaintext"] {
            guard server.fingerprint == nil else {
                throw text.error(
                    line: plaintext.line,
                    "host \(block.name) has both 'plaintext' and 'fingerprint': a plaintext connection checks no server identity; drop one"
                )
            }
            server.plaintext = true
        }
        if let timeout = value("connect-timeout") {
            do {
                server.connectTimeout = try TimeLimit.seconds(parsing: timeout.text)
            } catch {
                throw text.error(line: timeout.line, "connect-timeout: \(error.message)")
            }
        }
        if let tokenFile = value("token-file") {
            server.tokenFile = try Self.path(tokenFile.text, directory: directory, home: home) { message in
                text.error(line: tokenFile.line, message)
            }
        }
        if let keyFile = value("key") {
            server.keyFile = try Self.path(keyFile.text, directory: directory, home: home) { message in
                text.error(line: keyFile.line, message)
            }
        }
        servers.append(server)
    }

    /// `path` with a leading `~` expanded and made absolute against `directory`.
    private static func path(
        _ path: String, directory: String, home: String?, error: (String) -> PorterError
    ) throws(PorterError) -> String {
        if path == "~" || path.hasPrefix("~/") {
            guard let home else { throw error("cannot expand '~' in \(path): the home directory is unknown") }
            return home + path.dropFirst()
        }
        if path.hasPrefix("~") {
            throw error("'\(path)': only '~/' is expanded; write the whole path")
        }
        if path.hasPrefix("/") { return path }
        return (directory.hasSuffix("/") ? directory : directory + "/") + path
    }

    /// Checks that every member of `group` is a host of the file, named once.
    private func check(_ group: ServerGroup, in text: ConfigFileText) throws(PorterError) {
        var seen: Set<String> = []
        for member in group.members {
            guard seen.insert(member).inserted else {
                throw text.error(line: group.line, "group \(group.name) names \(member) twice")
            }
            if self.group(named: member) != nil {
                throw text.error(
                    line: group.line, "group \(group.name) names '\(member)', which is a group; list its hosts instead")
            }
            guard server(named: member) != nil else {
                throw text.error(
                    line: group.line,
                    "group \(group.name) names unknown host '\(member)'; add a `host \(member)` block or remove it")
            }
        }
    }

    /// What a keyword's value is, for messages.
    private static func valueName(_ keyword: String) -> String {
        switch keyword {
        case "endpoint": "HOST:PORT"
        case "fingerprint": "SHA256:…"
        case "token-file", "key": "FILE"
        default: "SECONDS"
        }
    }
}
