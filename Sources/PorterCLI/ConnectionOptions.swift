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

/// The options every client command shares.
struct ConnectionOptions: ParsableArguments {
    @Argument(
        help:
            "The server: a name from the config file, HOST, HOST:PORT, [IPv6]:PORT or unix:/path (default port 7070)."
    )
    var endpoint: String

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "The client config file, which names servers (default: $PORTER_CONFIG, else ~/.porter/config).",
            valueName: "file"),
        completion: .file()
    )
    var config: String?

    @Option(
        name: .customLong("token-file"),
        help: "Read the token from FILE (default: $PORTER_TOKEN, else ~/.porter/token).",
        completion: .file()
    )
    var tokenFile: String?

    @Option(
        name: .customLong("key"),
        help: ArgumentHelp(
            "Authenticate with the private key in FILE (Porter's or an unencrypted OpenSSH Ed25519 or ECDSA key) instead of the token.",
            valueName: "file"),
        completion: .file()
    )
    var key: String?

    @Option(
        name: .customLong("fingerprint"),
        help:
            "The server's identity (SHA256:…, from `porter serve --print-fingerprint`); known hosts are then not used."
    )
    var fingerprint: String?

    @Option(
        name: .customLong("known-hosts"),
        help: "The file of trusted server identities (default: ~/.porter/known_hosts).",
        completion: .file()
    )
    var knownHosts: String?

    @Flag(name: .customLong("plaintext"), help: "Connect without TLS, to a server started with --plaintext.")
    var plaintext = false

    /// The default of `--connect-timeout`.
    static let defaultConnectTimeout: Seconds = 10

    @Option(
        name: .customLong("connect-timeout"),
        parsing: .unconditional,
        help: Seconds.help("Seconds allowed to connect and authenticate.", default: Self.defaultConnectTimeout),
        transform: Seconds.parse)
    var connectTimeout: Seconds?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let fingerprint, Fingerprint(fingerprint) == nil {
            throw ValidationError("--fingerprint must look like SHA256: followed by 43 base64 characters")
        }
        if key != nil, tokenFile != nil {
            throw ValidationError("give --key or --token-file, not both")
        }
        if plaintext, fingerprint != nil || knownHosts != nil {
            throw ValidationError("--plaintext checks no server identity: drop --fingerprint and --known-hosts")
        }
    }

    /// Connects, runs `body`, and turns Porter's failures into one line on stderr and exit status 255 (1 for a
    /// refused request), as ssh does; with `--json`, a `connected` event first and an `error` event instead.
    func withConnection<Result: Sendable>(_ body: (ClientConnection) async throws -> Result) async throws -> Result {
        try await withConnection(promptTime: Locked(.zero), body)
    }

    /// ``withConnection(_:)``, adding to `promptTime` the time spent waiting for a person to answer whether to
    /// trust the server, so that timings can leave it out.
    func withConnection<Result: Sendable>(
        promptTime: Locked<Duration>, _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        let events = output.events
        do {
            return try await server(promptTime: promptTime).withConnection(events: events, body)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw events.failure(error)
        }
    }

    /// How to reach the server: the command line's `--plaintext`, `--fingerprint` or `--known-hosts` if any is
    /// given, else `named`'s `plaintext` or `fingerprint`, else the known-hosts file; a person is asked on first
    /// contact only when `interactive` and at a terminal.
    func transport(promptTime: Locked<Duration>, named: NamedServer?, interactive: Bool) -> ClientTransport {
        if plaintext { return .plaintext }
        if let pinned = fingerprint.flatMap(Fingerprint.init) { return .tls(.pinned(pinned)) }
        if knownHosts == nil, let named {
            if named.plaintext { return .plaintext }
            if let pinned = named.fingerprint { return .tls(.pinned(pinned)) }
        }
        let file = KnownHosts(path: knownHosts ?? KnownHosts.defaultPath)
        // As ssh: ask a person at a terminal on first contact; refuse in scripts, saying how to pin.
        let interactive = interactive && isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1
        guard interactive else { return .tls(.knownHosts(file, firstContact: .refuse)) }
        return .tls(
            .knownHosts(
                file,
                firstContact: .ask { host, fingerprint in
                    let asked = ContinuousClock.now
                    defer { promptTime.withLock { $0 += ContinuousClock.now - asked } }
                    return await Self.askToTrust(host: host, fingerprint: fingerprint)
                }))
    }

    /// Asks on the terminal whether to trust a server met for the first time.
    @Sendable private static func askToTrust(host: String, fingerprint: Fingerprint) async -> Bool {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { return false }
        defer { close(tty) }
        let prompt = """
            The identity of \(host) is not known.
            Its fingerprint is \(fingerprint).
            Check it with `porter serve --print-fingerprint` on the server.
            Trust it and remember it? (yes/no) 
            """
        _ = Array(prompt.utf8).withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
        var reader = StandardInput(descriptor: tty)
        while let line = try? await reader.nextLine() {
            switch String(decoding: line, as: UTF8.self).trimmingWhitespace().lowercased() {
            case "yes", "y": return true
            case "no", "n": return false
            default:
                _ = Array("Please type 'yes' or 'no': ".utf8).withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
            }
        }
        return false
    }
}
