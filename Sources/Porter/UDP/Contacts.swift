import NIOCore
import PorterProtocol

/// The address book of `porter udp chat`: names for `HOST:PORT` addresses, one per line, read as
/// ``ConfigFileText`` reads every configuration file (`#` comments, blank lines, `FILE:LINE: message` errors):
///
/// ```
/// # the course's address book
/// ann 127.0.0.1:9001
/// bob [::1]:9002
/// ```
public struct Contacts: Sendable, Equatable {
    /// One contact.
    public struct Contact: Sendable, Equatable {
        /// The name typed after `@` and shown for what arrives from the address.
        public var name: String
        /// The host: an IP address or a name to resolve.
        public var host: String
        /// The UDP port.
        public var port: Int
        /// Creates a contact.
        public init(name: String, host: String, port: Int) {
            self.name = name
            self.host = host
            self.port = port
        }
    }

    /// The contacts in file order.
    public var contacts: [Contact]

    /// An empty address book.
    public init(contacts: [Contact] = []) { self.contacts = contacts }

    /// Parses a contacts file's `text`; `file` names it in errors.
    ///
    /// - Throws: ``PorterError`` naming the file and line of the first problem.
    public init(parsing text: String, file: String) throws(PorterError) {
        try self.init(ConfigFileText(text, file: file))
    }

    /// Reads the contacts file at `path`.
    ///
    /// - Throws: ``PorterError`` if it is missing, unreadable, or has a mistake (naming the file and line).
    public static func load(at path: String) throws(PorterError) -> Contacts {
        guard let text = try ConfigFileText.read(at: path, file: path, what: "contacts file") else {
            throw PorterError(.configuration, "the contacts file \(path) does not exist")
        }
        return try Contacts(text)
    }

    /// Reads contacts from lines of words.
    public init(_ text: ConfigFileText) throws(PorterError) {
        var contacts: [Contact] = []
        for line in text.lines {
            if let problem = Self.tomlProblem(line.words) { throw text.error(line, problem) }
            guard line.words.count == 2 else {
                throw text.error(line, "expected NAME HOST:PORT, got \(line.words.count) words")
            }
            let (name, address) = (line.words[0], line.words[1])
            if let problem = ChatName.problem(with: name, what: "contact name") {
                throw text.error(line, problem.message)
            }
            guard !contacts.contains(where: { $0.name == name }) else {
                throw text.error(line, "the name \(name) is already used above")
            }
            let endpoint: Endpoint
            do {
                endpoint = try Endpoint(parsing: address, defaultPort: 0)
            } catch {
                throw text.error(line, error.message)
            }
            guard case .tcp(let host, let port) = endpoint, port > 0 else {
                throw text.error(line, "expected HOST:PORT with a port, got \(address)")
            }
            contacts.append(Contact(name: name, host: host, port: port))
        }
        self.contacts = contacts
    }

    /// What to say about a line written as TOML (`ann = "127.0.0.1:9001"`, `[contacts]`), which contacts files
    /// once took and no longer do, or `nil` for any other line.
    private static func tomlProblem(_ words: [String]) -> String? {
        let line = words.joined(separator: " ")
        if line.hasPrefix("[") {
            return "'\(line)' is a TOML table; contacts files hold one NAME HOST:PORT per line: remove it"
        }
        guard let equals = line.firstIndex(of: "=") else { return nil }
        let unquoted: (Substring) -> String = { part in
            String(part.filter { $0 != "\"" && $0 != "'" && $0 != " " })
        }
        let name = unquoted(line[..<equals])
        let address = unquoted(line[line.index(after: equals)...])
        let example = name.isEmpty || address.isEmpty ? "ann 127.0.0.1:9001" : "\(name) \(address)"
        return "write NAME HOST:PORT, as `\(example)`; the TOML form NAME = \"HOST:PORT\" is not read"
    }

    /// The contact called `name`.
    public func contact(named name: String) -> Contact? {
        contacts.first { $0.name == name }
    }
}
