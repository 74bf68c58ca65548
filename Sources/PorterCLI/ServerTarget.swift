import Porter

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One server a client command connects to: the ENDPOINT argument as typed, or a host of the config file, with
/// the command line's options over the file's values.
struct ServerTarget: Sendable {
    /// The name the person gave: a host of the config file, or the endpoint text.
    let name: String
    /// Where the server listens.
    let endpoint: Endpoint
    /// The token file, if one was named (on the command line or in the config file).
    let tokenFile: String?
    /// The private key file, if one was named (`--key`).
    let keyFile: String?
    /// How the server's identity is checked.
    let transport: ClientTransport
    /// Seconds allowed to connect and authenticate.
    let connectTimeout: Double
    /// The config file to name if connecting fails because `name` is no host that resolves: `nil` when the name
    /// came from that file.
    let unknownNameFile: String?

    /// Connects, authenticates, reports the `connected` event to `events` and runs `body`. The token or key is read
    /// only now, so that a group's member whose token file is missing fails alone.
    ///
    /// - Throws: ``PorterError`` when the server cannot be reached or the handshake fails, and whatever `body`
    ///   throws. A name that is neither in the config file nor a host that resolves is said so, naming the file.
    func withConnection<Result: Sendable>(
        events: EventOutput, _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        let environment = ProcessInfo.processInfo.environment
        let credentials = try await ClientCredentials.resolveWithoutBlocking(
            keyFile: keyFile, tokenFile: tokenFile, environment: environment)
        let configuration = ClientConfiguration(
            credentials: credentials, transport: transport, connectTimeout: connectTimeout)
        do {
            return try await PorterClient.withConnection(to: endpoint, configuration: configuration) { connection in
                events.report(Self.connected(connection))
                return try await body(connection)
            }
        } catch let error as PorterError where error.kind == .connection {
            // Resolved again only after a failure, so that a working connection costs no second lookup.
            guard let file = unknownNameFile, !name.contains(":"), case .tcp(let host, _) = endpoint,
                HostAddresses.resolve(host).isEmpty
            else { throw error }
            throw PorterError(
                .connection,
                "cannot connect to \(name): it is neither a name in \(file) nor a host that resolves; name it in \(file) (`host \(name)` and its `endpoint`) or check the spelling"
            )
        }
    }

    /// The `connected` event: who the server is and how the connection is protected.
    static func connected(_ connection: ClientConnection) -> JSONEvent {
        JSONEvent(
            "connected",
            [
                "endpoint": .string("\(connection.endpoint)"), "server": .string(connection.welcome.server),
                "agent": .string(connection.welcome.agent), "protocolVersion": .integer(connection.welcome.version),
                "tls": .bool(connection.fingerprint != nil),
                "fingerprint": connection.fingerprint.map { .string("\($0)") },
                "auth": .string(connection.key == nil ? "token" : "key"),
                "key": connection.key.map { .string($0.fingerprint) },
            ])
    }
}
