import ArgumentParser
import Logging
import Porter
import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

extension PorterCommand {
    /// `porter serve`.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Run a Porter server.",
            discussion: """
                With no options it listens on 127.0.0.1:7070 with TLS, creates a token (~/.porter/token) and a \
                server identity (~/.porter/identity.pem) on first start, and prints how to connect. Unix-socket \
                listeners are plaintext, protected by file permissions. Stop it with Ctrl-C or SIGTERM.
                """
        )

        @Option(
            name: .customLong("listen"),
            help:
                "Listen on ENDPOINT: HOST:PORT, [IPv6]:PORT or unix:/path; repeat for several (default: 127.0.0.1:7070)."
        )
        var listen: [String] = []

        @Option(
            name: .customLong("token-file"),
            help: "Token file, created (mode 0600) if missing (default: ~/.porter/token).")
        var tokenFile: String?

        @Option(
            name: .customLong("authorized-keys"),
            help: ArgumentHelp(
                "Accept the keys in FILE, in OpenSSH's authorized_keys format with its options (default: ~/.porter/authorized_keys when it exists). Read again when it changes.",
                valueName: "file"),
            completion: .file())
        var authorizedKeys: String?

        @Option(
            name: .customLong("audit-log"),
            help: ArgumentHelp(
                "Append a JSON line to FILE (created mode 0600) for every authentication attempt and every operation, before its client hears the outcome (docs/AUDIT.md). SIGHUP reopens it.",
                valueName: "file"),
            completion: .file())
        var auditLog: String?

        @Option(
            name: .customLong("record"),
            help: ArgumentHelp(
                "Record every pseudo-terminal session (porter shell, exec -t) in DIR as an asciicast v2 file, named by when and who.",
                valueName: "dir"),
            completion: .directory)
        var record: String?

        @Flag(
            name: .customLong("no-token"),
            help: "Turn token authentication off: only the authorized keys may connect.")
        var noToken = false

        @Option(
            name: .customLong("identity"),
            help:
                "Server identity (key and certificate), created (mode 0600) if missing (default: ~/.porter/identity.pem)."
        )
        var identityFile: String?

        @Flag(name: .customLong("print-fingerprint"), help: "Print the identity's fingerprint and exit.")
        var printFingerprint = false

        @Flag(name: .customLong("plaintext"), help: "Serve TCP without TLS: for trusted loopback use only.")
        var plaintext = false

        /// The default of `--idle-timeout`.
        static let defaultIdleTimeout: Seconds = 300
        /// The default of `--shutdown-grace`.
        static let defaultShutdownGrace = Seconds(integerLiteral: Int(ServerConfiguration.defaultShutdownGrace))
        /// The default of `--auth-timeout`.
        static let defaultAuthTimeout: Seconds = 10
        /// The default of `--classic-idle-timeout`.
        static let defaultClassicIdleTimeout = Seconds(integerLiteral: Int(ClassicConfiguration.defaultIdleTimeout))
        /// The default of `--http-head-timeout`.
        static let defaultHTTPHeadTimeout = Seconds(integerLiteral: Int(HTTPConfiguration.defaultRequestHeadTimeout))

        /// The most connections any of the connection limits may allow: far more than one process has descriptors
        /// for, and small enough that no sum with it overflows.
        static let maxConnectionsLimit = 1_000_000

        @Option(
            name: .customLong("max-connections"), parsing: .unconditional,
            help: "Connections served at once; more are refused.")
        var maxConnections: Int = 1024

        @Option(
            name: .customLong("max-unauthenticated"),
            parsing: .unconditional,
            help:
                "Connections in TLS or authentication at once, in total; more wait, unread, for a free slot (refused with server-busy if none frees up within --auth-timeout)."
        )
        var maxUnauthenticated: Int = 256

        @Option(
            name: .customLong("max-unauthenticated-per-source"),
            parsing: .unconditional,
            help:
                "Connections in TLS or authentication at once from one address; more from it wait the same way."
        )
        var maxUnauthenticatedPerSource: Int = 64

        @Option(
            name: .customLong("idle-timeout"),
            parsing: .unconditional,
            help: Seconds.help(
                "Seconds of client silence before a connection is closed (0: never).", default: Self.defaultIdleTimeout),
            transform: Seconds.parseAllowingNever)
        var idleTimeout = Self.defaultIdleTimeout

        @Option(
            name: .customLong("shutdown-grace"),
            parsing: .unconditional,
            help: Seconds.help(
                "Seconds that running commands, transfers and forwards get to finish after SIGTERM or Ctrl-C (0: none); a second signal stops at once.",
                default: Self.defaultShutdownGrace),
            transform: Seconds.parseAllowingNone)
        var shutdownGrace = Self.defaultShutdownGrace

        @Option(
            name: .customLong("auth-timeout"),
            parsing: .unconditional,
            help: Seconds.help("Seconds a new connection has to authenticate.", default: Self.defaultAuthTimeout),
            transform: Seconds.parse)
        var authTimeout = Self.defaultAuthTimeout

        @Option(
            name: .customLong("root"),
            help:
                "Directory that get/put/ls are confined to and commands start in (default: the current directory).",
            completion: .directory)
        var root: String?

        @Option(
            name: .customLong("accept-env"),
            help:
                "An environment variable clients may set for commands (NAME or PREFIX*); repeatable (default: LANG, LC_*)."
        )
        var acceptEnvironment: [String] = []

        @Option(
            name: .customLong("udp"),
            help: "Also answer UDP echo datagrams on HOST:PORT (upper-cased; see `porter udp echo`).")
        var udp: String?

        @Option(
            name: .customLong("http"),
            help: "Also serve a status page, /healthz and /metrics (Prometheus) over HTTP on HOST:PORT.")
        var http: String?

        @Flag(
            name: .customLong("classic"),
            help: "Also serve the course programs' own wire formats (echo, exec, ftp, udp, http, chat) on 7071-7076.")
        var classic = false

        @Flag(
            name: .customLong("classic-insecure"),
            help: "Let the unauthenticated classic exec and ftp listeners bind a non-loopback address.")
        var classicInsecure = false

        @Option(
            name: .customLong("classic-port"),
            help: "Move one classic listener: NAME=PORT with NAME echo, exec, ftp, udp, http or chat (repeatable).")
        var classicPorts: [String] = []

        @Option(
            name: .customLong("front-door-max-per-source"),
            parsing: .unconditional,
            help:
                "Connections one address may hold on the HTTP endpoint and on each classic listener (default \(ClassicConfiguration.defaultMaxConnectionsPerSource)); more from it are closed at once."
        )
        var frontDoorMaxPerSource: Int = ClassicConfiguration.defaultMaxConnectionsPerSource

        @Option(
            name: .customLong("classic-idle-timeout"),
            parsing: .unconditional,
            help: Seconds.help(
                "Seconds a classic connection may stay silent before it is closed.",
                default: Self.defaultClassicIdleTimeout),
            transform: Seconds.parse)
        var classicIdleTimeout = Self.defaultClassicIdleTimeout

        @Option(
            name: .customLong("http-head-timeout"),
            parsing: .unconditional,
            help: Seconds.help(
                "Seconds an HTTP client (status page or classic http) has to send a whole request head.",
                default: Self.defaultHTTPHeadTimeout),
            transform: Seconds.parse)
        var httpHeadTimeout = Self.defaultHTTPHeadTimeout

        @Flag(
            name: .customLong("allow-forward"),
            help: "Let clients forward TCP connections (`porter forward`) to any host this server reaches.")
        var allowForward = false

        @Option(
            name: .customLong("allow-forward-to"),
            help: ArgumentHelp(
                "With --allow-forward, forward only to this HOST, [IPV6] or HOST:PORT (repeatable).",
                valueName: "target"))
        var allowForwardTo: [String] = []

        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "info"

        func validate() throws {
            for (option, value) in [
                ("--max-connections", maxConnections), ("--max-unauthenticated", maxUnauthenticated),
                ("--max-unauthenticated-per-source", maxUnauthenticatedPerSource),
                ("--front-door-max-per-source", frontDoorMaxPerSource),
            ] where !(1...Self.maxConnectionsLimit).contains(value) {
                throw ValidationError("\(option) must be from 1 to \(Self.maxConnectionsLimit)")
            }
            if !allowForwardTo.isEmpty, !allowForward {
                throw ValidationError(
                    "--allow-forward-to narrows forwarding, which is off without --allow-forward: add --allow-forward")
            }
            for target in allowForwardTo {
                do {
                    _ = try ForwardTarget(parsing: target)
                } catch {
                    throw ValidationError("--allow-forward-to \(error.message)")
                }
            }
            if !classicPorts.isEmpty, !classic {
                throw ValidationError("--classic-port moves a classic listener: add --classic, or drop --classic-port")
            }
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError(
                    "--log-level must be one of: trace, debug, info, notice, warning, error, critical")
            }
        }

        /// Where clients may forward to: nowhere without --allow-forward, else the --allow-forward-to list if any.
        private func forwardTargets() throws(PorterError) -> ForwardConfiguration.Targets {
            guard allowForward else { return .none }
            guard !allowForwardTo.isEmpty else { return .any }
            return .only(try allowForwardTo.map { target throws(PorterError) in try ForwardTarget(parsing: target) })
        }

        /// The classic listeners' configuration: on the first TCP listen address's host, ports from --classic-port.
        private func classicConfiguration(_ endpoints: [Endpoint]) throws -> ClassicConfiguration {
            var configuration = ClassicConfiguration(
                insecure: classicInsecure, maxConnectionsPerSource: frontDoorMaxPerSource,
                idleTimeout: classicIdleTimeout.value, requestHeadTimeout: httpHeadTimeout.value)
            for case .tcp(let host, _) in endpoints.prefix(1) { configuration.host = host }
            for setting in classicPorts {
                let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else {
                    throw PorterError(.configuration, "--classic-port wants NAME=PORT, not \(setting)")
                }
                switch parts[0] {
                case "echo": configuration.echoPort = port
                case "exec": configuration.execPort = port
                case "ftp": configuration.ftpPort = port
                case "udp": configuration.udpPort = port
                case "http": configuration.httpPort = port
                case "chat": configuration.chatPort = port
                default: throw PorterError(.configuration, "--classic-port: no classic listener called \(parts[0])")
                }
            }
            return configuration
        }

        /// Raises the soft limit on open files to the hard limit, as servers do: each connection holds a
        /// descriptor, and a command or transfer a few more. Returns the limit now in force.
        static func raiseDescriptorLimit() -> Int {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int.max }
            if limit.rlim_cur < limit.rlim_max {
                var raised = limit
                raised.rlim_cur = limit.rlim_max
                if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
            }
            return Int(clamping: limit.rlim_cur)
        }

        func run() async throws {
            if printFingerprint {
                do {
                    let (identity, _) = try ServerIdentity.loadOrCreate(at: identityPath)
                    Terminal.line("\(identity.fingerprint)")
                    return
                } catch {
                    Terminal.error(error.message)
                    throw ExitCode(1)
                }
            }
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "porter.server")
            let descriptors = Self.raiseDescriptorLimit()
            if descriptors < maxConnections + 64 {
                logger.warning(
                    "open-file limit \(descriptors) is below --max-connections \(maxConnections) plus room for commands and transfers; connections beyond it will fail (raise the hard limit: ulimit -Hn)"
                )
            }
            do {
                let endpoints =
                    try listen.isEmpty ? [ServerConfiguration.defaultListen] : listen.map { try Endpoint(parsing: $0) }
                let tokenPath = tokenFile ?? TokenFile.defaultPath
                let keysPath =
                    authorizedKeys
                    ?? (access(AuthorizedKeysFile.defaultPath, F_OK) == 0 ? AuthorizedKeysFile.defaultPath : nil)
                if noToken, keysPath == nil {
                    throw PorterError(
                        .configuration,
                        "--no-token needs --authorized-keys FILE (or \(AuthorizedKeysFile.defaultPath)): else no client can connect"
                    )
                }
                let (token, created) = noToken ? ("", false) : try TokenFile.loadOrCreate(at: tokenPath)
                if !noToken, let weakness = TokenFile.weakness(of: token) {
                    logger.warning(
                        "the token in \(tokenPath) is weak (\(weakness)): anyone who guesses it runs commands as this user; make a strong one with `\(TokenFile.strongTokenRecipe) > \(tokenPath)`"
                    )
                }
                if geteuid() == 0 {
                    logger.warning(
                        "running as root: every client's commands and files have root's powers; run porter serve as an ordinary user (docs/SECURITY.md)"
                    )
                }
                if auditLog != nil, classic {
                    logger.warning(
                        "--audit-log records the native protocol only: the classic listeners' commands and downloads (--classic, unauthenticated) are in the server log, not the audit log"
                    )
                }
                if plaintext, let exposed = endpoints.first(where: { !$0.isLoopback && $0.isTCP }) {
                    logger.warning(
                        "--plaintext on \(exposed): traffic to this address is readable and alterable by the network")
                }
                let identity =
                    !plaintext && endpoints.contains(where: \.isTCP)
                    ? try ServerIdentity.loadOrCreate(at: identityPath) : nil
                var exec = ExecConfiguration()
                if let root {
                    var isDirectory = false
                    guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory
                    else { throw PorterError(.configuration, "--root \(root) is not a directory") }
                }
                if !acceptEnvironment.isEmpty { exec.acceptEnvironment = acceptEnvironment }
                var configuration = ServerConfiguration(
                    listen: endpoints,
                    token: token,
                    transport: identity.map { .tls($0.identity) } ?? .plaintext,
                    serverName: ProcessInfo.processInfo.hostName,
                    maxConnections: maxConnections,
                    maxUnauthenticated: maxUnauthenticated,
                    maxUnauthenticatedPerSource: maxUnauthenticatedPerSource,
                    authTimeout: authTimeout.value,
                    idleTimeout: idleTimeout.value,
                    shutdownGrace: shutdownGrace.value,
                    udp: try udp.map { try Endpoint(parsing: $0) },
                    http: try http.map {
                        HTTPConfiguration(
                            listen: try Endpoint(parsing: $0), maxConnectionsPerSource: frontDoorMaxPerSource,
                            requestHeadTimeout: httpHeadTimeout.value)
                    },
                    classic: classic ? try classicConfiguration(endpoints) : nil,
                    root: root ?? FileManager.default.currentDirectoryPath,
                    exec: exec,
                    forward: ForwardConfiguration(targets: try forwardTargets())
                )
                configuration.acceptsToken = !noToken
                configuration.authorizedKeys = keysPath
                configuration.auditLog = auditLog
                configuration.recordings = record
                let printDoors: @Sendable ([BoundFrontDoor]) async -> Void = { doors in
                    for door in doors { Terminal.line("\(door.name) on \(door.address)") }
                }
                let printListening: @Sendable ([Endpoint]) async -> Void = { bound in
                    for endpoint in bound {
                        let security = !endpoint.isTCP ? "plaintext, owner only" : plaintext ? "PLAINTEXT" : "TLS"
                        Terminal.line("porter \(PorterVersion.current) listening on \(endpoint) (\(security))")
                    }
                    if noToken {
                        Terminal.line("token: off (--no-token)")
                    } else {
                        Terminal.line("token: \(tokenPath)\(created ? " (created, mode 0600)" : "")")
                    }
                    if let keysPath { Terminal.line("authorized keys: \(keysPath)") }
                    if let auditLog { Terminal.line("audit log: \(auditLog) (SIGHUP reopens it)") }
                    if let record { Terminal.line("recording terminal sessions in: \(record)") }
                    var client = noToken ? " --key FILE" : tokenFile.map { " --token-file \($0)" } ?? ""
                    if let identity {
                        let note = identity.created ? ", created, mode 0600" : ""
                        Terminal.line("identity: \(identity.identity.fingerprint) (\(identityPath)\(note))")
                        if identityFile != nil { client += " --fingerprint \(identity.identity.fingerprint)" }
                    }
                    if plaintext { client += " --plaintext" }
                    Terminal.line(
                        "try it from another terminal: porter hello \(bound.first.map { "\($0)" } ?? "")\(client)")
                }
                let server = try PorterServer(
                    configuration: configuration, logger: logger, onListening: printListening,
                    onFrontDoors: printDoors)
                try await Self.run(server, logger: logger)
            } catch let error as PorterError {
                Terminal.error(error.message)
                throw ExitCode(1)
            } catch {
                Terminal.error("the server stopped: \(ErrorText.describe(error))")
                throw ExitCode(1)
            }
        }

        private var identityPath: String { identityFile ?? ServerIdentity.defaultPath }

        /// Runs `server` until a signal: the first SIGTERM or SIGINT shuts it down gracefully (within
        /// `--shutdown-grace`), a second closes every connection at once. With an audit log, SIGHUP reopens it.
        private static func run(_ server: PorterServer, logger: Logger) async throws {
            let reopening = server.auditLog.map { log in
                CaughtSignals([
                    (
                        SIGHUP,
                        { @Sendable in
                            do throws(PorterError) {
                                try log.reopen()
                                logger.notice("reopened the audit log \(log.path)")
                            } catch {
                                logger.error("\(error.message); still writing to the file opened before")
                            }
                        }
                    )
                ])
            }
            defer { reopening?.stop() }
            let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
            let running = Task { try await group.run() }
            let signals = CaughtSignals.stopping { count in
                if count == 1 {
                    Task { await group.triggerGracefulShutdown() }
                } else if count == 2 {
                    logger.notice("a second signal: closing every connection now")
                    running.cancel()
                }
            }
            defer { signals.stop() }
            do {
                try await running.value
            } catch is CancellationError {
                // The second signal's: the server has stopped, as asked.
            }
        }
    }
}
