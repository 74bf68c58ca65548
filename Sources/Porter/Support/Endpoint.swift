import NIOCore

/// Where a Porter server listens or a client connects: `HOST`, `HOST:PORT`, `[IPv6]:PORT` or `unix:/path`.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The port used when an endpoint names none.
    public static let defaultPort = 7070

    /// A TCP host (name, IPv4 or IPv6 address) and port.
    case tcp(host: String, port: Int)
    /// A unix-domain socket path.
    case unix(path: String)

    /// Parses the endpoint syntax, using `defaultPort` when no port is given.
    public init(parsing text: String, defaultPort: Int = Endpoint.defaultPort) throws(PorterError) {
        func invalid(_ why: String) -> PorterError {
            PorterError(
                .configuration,
                "invalid endpoint '\(text)': \(why); use HOST, HOST:PORT, [IPv6]:PORT or unix:/path"
            )
        }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw invalid("empty socket path") }
            self = .unix(path: path)
            return
        }
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw invalid("missing ']'") }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw invalid("expected ':' after ']'") }
                portText = rest.dropFirst()
            }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        // Several colons without brackets: a bare IPv6 address such as ::1, on the default port.
        guard !host.isEmpty else { throw invalid("empty host") }
        guard !host.contains(where: { $0.isWhitespace || $0 == "/" }) else { throw invalid("bad host") }
        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (0...65535).contains(value) else {
                throw invalid("port must be a number from 0 to 65535")
            }
            port = value
        }
        self = .tcp(host: String(host), port: port)
    }

    /// The endpoint in the syntax ``init(parsing:defaultPort:)`` reads.
    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// Whether this is a TCP endpoint (TLS applies to these only).
    public var isTCP: Bool {
        if case .tcp = self { return true }
        return false
    }

    /// Whether this is a TCP endpoint whose host is loopback only: every address it resolves to is in
    /// 127.0.0.0/8 or ::1. A name that resolves to nothing is not; nor is a name such as `127.evil.example`,
    /// whatever its text looks like.
    ///
    /// Resolves the host, which may block on DNS: ask at start-up, never on an event loop.
    public var isLoopback: Bool {
        isLoopback(resolvingWith: HostAddresses.resolve)
    }

    /// ``isLoopback`` with the resolver given: `resolve` returns a host's raw addresses (4 or 16 bytes each).
    package func isLoopback(resolvingWith resolve: (String) -> [[UInt8]]) -> Bool {
        guard case .tcp(let host, _) = self else { return false }
        let addresses = resolve(host)
        return !addresses.isEmpty && addresses.allSatisfy(HostAddresses.isLoopback)
    }

    /// The endpoint of a bound socket address.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4, .v6:
            guard let ip = address.ipAddress, let port = address.port else { return nil }
            self = .tcp(host: ip, port: port)
        case .unixDomainSocket:
            guard let path = address.pathname else { return nil }
            self = .unix(path: path)
        }
    }
}
