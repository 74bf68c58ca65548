import ArgumentParser
import Foundation
import Porter

/// The options every client command shares.
struct ConnectionOptions: ParsableArguments {
    @Argument(help: "The server: HOST, HOST:PORT, [IPv6]:PORT or unix:/path (default port 7070).")
    var endpoint: String

    @Option(
        name: .customLong("token-file"),
        help: "Read the token from FILE (default: $PORTER_TOKEN, else ~/.porter/token).",
        completion: .file()
    )
    var tokenFile: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds allowed to connect and authenticate.")
    var connectTimeout: Double = 10

    func validate() throws {
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout must be positive") }
    }

    /// Connects, runs `body`, and turns Porter's failures into one line on stderr and exit status 255 (1 for a
    /// refused request), as ssh does.
    func withConnection<Result: Sendable>(_ body: (ClientConnection) async throws -> Result) async throws -> Result {
        do {
            let endpoint = try Endpoint(parsing: endpoint)
            let token = try TokenFile.resolveForClient(
                tokenFile: tokenFile, environment: ProcessInfo.processInfo.environment)
            let configuration = ClientConfiguration(token: token, connectTimeout: connectTimeout)
            return try await PorterClient.withConnection(to: endpoint, configuration: configuration, body)
        } catch let error as PorterError {
            Terminal.error(error.message)
            throw ExitCode(error.kind == .refused ? 1 : 255)
        }
    }
}
