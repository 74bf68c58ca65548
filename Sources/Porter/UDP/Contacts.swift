import NIOCore
import PorterProtocol

/// The address book of `porter udp chat`: names for `HOST:PORT` addresses.
///
/// Two formats are read, line by line, with `#` comments and blank lines ignored:
///
/// ```
/// ann 127.0.0.1:9001          # simple: NAME HOST:PORT
/// bob = "[::1]:9002"          # TOML: NAME = "HOST:PORT", optionally under a [contacts] table
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
        var contacts: [Contact] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let place = "\(file) line \(index + 1)"
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            line = line.trimmingSpaces
            if line.isEmpty || line == "[contacts]" { continue }
            let name: Substring
            var address: Substring
            if let equals = line.firstIndex(of: "=") {
                name = line[..<equals].trimmingSpaces
                address = line[line.index(after: equals)...].trimmingSpaces
                guard address.count >= 2, address.first == "\"", address.last == "\"" else {
                    throw PorterError(.configuration, "\(place): expected NAME = \"HOST:PORT\"")
                }
                address = address.dropFirst().dropLast()
            } else {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count == 2 else {
                    throw PorterError(.configuration, "\(place): expected NAME HOST:PORT")
                }
                (name, address) = (words[0], words[1])
            }
            if let problem = ChatName.problem(with: String(name), what: "contact name") {
                throw PorterError(.configuration, "\(place): \(problem.message)")
            }
            guard !contacts.contains(where: { $0.name == name }) else {
                throw PorterError(.configuration, "\(place): the name \(name) is already used above")
            }
            let endpoint: Endpoint
            do {
                endpoint = try Endpoint(parsing: String(address), defaultPort: 0)
            } catch {
                throw PorterError(.configuration, "\(place): \(error.message)")
            }
            guard case .tcp(let host, let port) = endpoint, port > 0 else {
                throw PorterError(.configuration, "\(place): expected HOST:PORT with a port, got \(address)")
            }
            contacts.append(Contact(name: String(name), host: host, port: port))
        }
        self.contacts = contacts
    }

    /// The contact called `name`.
    public func contact(named name: String) -> Contact? {
        contacts.first { $0.name == name }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
