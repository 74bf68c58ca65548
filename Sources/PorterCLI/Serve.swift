import ArgumentParser
import Foundation
import Logging
import Porter
import ServiceLifecycle

extension PorterCommand {
    /// `porter serve`.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a Porter server.",
            discussion: """
                With no options it listens on 127.0.0.1:7070, creates a token in ~/.porter/token on first start,
                and prints how to connect. Stop it with Ctrl-C or SIGTERM.
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

        @Option(name: .customLong("max-connections"), help: "Connections served at once; more are refused.")
        var maxConnections: Int = 1024

        @Option(
            name: .customLong("idle-timeout"),
            help: "Seconds of client silence before a connection is closed (0: never).")
        var idleTimeout: Double = 300

        @Option(name: .customLong("auth-timeout"), help: "Seconds a new connection has to authenticate.")
        var authTimeout: Double = 10

        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "info"

        func validate() throws {
            guard maxConnections > 0 else { throw ValidationError("--max-connections must be at least 1") }
            guard idleTimeout >= 0 else { throw ValidationError("--idle-timeout must not be negative") }
            guard authTimeout > 0 else { throw ValidationError("--auth-timeout must be positive") }
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError(
                    "--log-level must be one of: trace, debug, info, notice, warning, error, critical")
            }
        }

        func run() async throws {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "porter.server")
            do {
                let endpoints =
                    try listen.isEmpty ? [ServerConfiguration.defaultListen] : listen.map { try Endpoint(parsing: $0) }
                let tokenPath = tokenFile ?? TokenFile.defaultPath
                let (token, created) = try TokenFile.loadOrCreate(at: tokenPath)
                let configuration = ServerConfiguration(
                    listen: endpoints,
                    token: token,
                    serverName: ProcessInfo.processInfo.hostName,
                    maxConnections: maxConnections,
                    authTimeout: authTimeout,
                    idleTimeout: idleTimeout
                )
                let server = PorterServer(configuration: configuration, logger: logger) { bound in
                    for endpoint in bound { Terminal.line("porter \(PorterVersion.current) listening on \(endpoint)") }
                    Terminal.line("token: \(tokenPath)\(created ? " (created, mode 0600)" : "")")
                    let client = tokenFile.map { " --token-file \($0)" } ?? ""
                    Terminal.line(
                        "try it from another terminal: porter hello \(bound.first.map { "\($0)" } ?? "")\(client)")
                }
                let group = ServiceGroup(
                    configuration: .init(
                        services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
                )
                try await group.run()
            } catch let error as PorterError {
                Terminal.error(error.message)
                throw ExitCode(1)
            }
        }
    }
}
