import NIOCore
import NIOPosix
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a server lets clients forward TCP connections to (`porter serve --allow-forward`, `--allow-forward-to`).
public struct ForwardConfiguration: Sendable {
    /// The targets a client may reach.
    public enum Targets: Sendable, Equatable {
        /// Forwarding is off: every `forward` open is refused `not-permitted`.
        case none
        /// Any host and port the server can reach.
        case any
        /// Only these.
        case only([ForwardTarget])
    }

    /// The targets a client may reach; `.none` by default.
    public var targets: Targets
    /// Seconds the server waits for a target's connection before refusing the open `connect-failed`.
    public var connectTimeout: Double

    /// The default of ``connectTimeout``.
    public static let defaultConnectTimeout = 10.0

    /// Creates a configuration.
    public init(targets: Targets = .none, connectTimeout: Double = ForwardConfiguration.defaultConnectTimeout) {
        self.targets = targets
        self.connectTimeout = connectTimeout
    }
}

/// One entry of `--allow-forward-to`: a host, compared as text before any name is resolved (a name without regard
/// to case, an IP address in its canonical form), and optionally a port.
public struct ForwardTarget: Sendable, Hashable, CustomStringConvertible {
    /// The host in canonical form.
    public let host: String
    /// The port, or `nil` for any.
    public let port: Int?

    /// Reads `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration`` naming what is wrong.
    public init(parsing text: String) throws(PorterError) {
        let host: Substring
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw PorterError(.configuration, "'\(TerminalText.escaped(text))' opens '[' without ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw PorterError(.configuration, "'\(TerminalText.escaped(text))': expected ':PORT' after ']'")
                }
                port = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            // No colon, or an IPv6 address without brackets and so without a port.
            host = Substring(text)
        }
        guard Self.isValidHost(String(host)) else {
            throw PorterError(
                .configuration,
                "'\(TerminalText.escaped(text))' needs a host of 1 to \(MessageRanges.maxHostLength) bytes, without spaces"
            )
        }
        self.host = Self.canonical(String(host))
        if let port {
            guard let number = Int(port), (1...65_535).contains(number) else {
                throw PorterError(.configuration, "'\(TerminalText.escaped(text))' needs a port from 1 to 65535")
            }
            self.port = number
        } else {
            self.port = nil
        }
    }

    /// Whether a client's target `host:port` is this entry.
    func matches(host: String, port: Int) -> Bool {
        Self.canonical(host) == self.host && (self.port == nil || self.port == port)
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return port.map { "\(host):\($0)" } ?? host
    }

    /// Whether `host` can name a host: 1 to 255 bytes, without spaces or control characters. (A forward open's own
    /// checks allow any byte but NUL.)
    static func isValidHost(_ host: String) -> Bool {
        (1...MessageRanges.maxHostLength).contains(host.utf8.count)
            && host.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F }
    }

    /// Whether `host` is an IPv4 or IPv6 address.
    static func isIPAddress(_ host: String) -> Bool {
        var address = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
    }

    /// An IP address in its canonical form (`inet_ntop` of `inet_pton`), a name in lower case.
    static func canonical(_ host: String) -> String {
        for family in [AF_INET, AF_INET6] {
            var address = [UInt8](repeating: 0, count: 16)
            guard inet_pton(family, host, &address) == 1 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(family, address, &text, socklen_t(text.count)) != nil else { continue }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return host.lowercased()
    }
}

/// The forward service on the server: decides on a `forward` open and connects to its target
/// (docs/PROTOCOL.md section 5.4.7).
struct ForwardService: Sendable {
    let configuration: ForwardConfiguration
    /// Where running forwards are registered.
    let activity: ServerActivity

    /// Checks `request` against the configuration and connects to its target on `eventLoop`, with `autoRead`
    /// off and half-closure allowed, ready for ``ForwardGlue``.
    ///
    /// - Returns: the target's connection, or fails with the ``ProtocolError`` to refuse the open with.
    func connect(_ request: ChannelMessage.Forward, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        // The origin is the address the client accepted from.
        guard ForwardTarget.isValidHost(request.host) else {
            return eventLoop.makeFailedFuture(
                ProtocolError(.badRequest, "'host' must be a name or an address, without spaces or control characters"))
        }
        if let origin = request.originHost, !ForwardTarget.isIPAddress(origin) {
            return eventLoop.makeFailedFuture(ProtocolError(.badRequest, "'originHost' must be an IP address"))
        }
        switch configuration.targets {
        case .none:
            return eventLoop.makeFailedFuture(
                ProtocolError(.notPermitted, "this server does not allow forwarding; start it with --allow-forward"))
        case .any:
            break
        case .only(let allowed):
            guard allowed.contains(where: { $0.matches(host: request.host, port: request.port) }) else {
                let target = ForwardTarget.canonical(request.host)
                let shown = target.contains(":") ? "[\(target)]:\(request.port)" : "\(target):\(request.port)"
                return eventLoop.makeFailedFuture(
                    ProtocolError(
                        .notPermitted,
                        "forwarding to \(shown) is not allowed; this server allows \(allowed.map(\.description).joined(separator: ", "))"
                    ))
            }
        }
        let timeout = TimeLimit.duration(seconds: configuration.connectTimeout)
        let seconds = configuration.connectTimeout
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.autoRead, value: false)
            .connect(host: request.host, port: request.port)
            .flatMapErrorThrowing { error in
                throw ProtocolError(
                    .connectFailed,
                    "cannot connect to \(request.host):\(request.port): \(Self.describe(error, timeout: seconds))")
            }
    }

    /// A connect failure in a few words: "connection refused", "timed out after 10 s", "no such host".
    static func describe(_ error: any Error, timeout: Double) -> String {
        switch error {
        case ChannelError.connectTimeout:
            let seconds = timeout == timeout.rounded() && timeout < 1e9 ? "\(Int(timeout))" : "\(timeout)"
            return "timed out after \(seconds) s"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error, timeout: timeout) }
            return error.dnsAError != nil || error.dnsAAAAError != nil ? "no such host" : "no address to connect to"
        case is SocketAddressError:
            return "no such host"
        default:
            return "\(error)"
        }
    }
}
