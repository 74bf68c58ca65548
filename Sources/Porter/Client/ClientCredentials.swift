import NIOCore
import NIOPosix
import PorterProtocol

/// What a client proves who it is with.
public enum ClientCredentials: Sendable {
    /// The server's shared token (see ``TokenFile``); `orKeys` are offered instead to a server that accepts no
    /// token.
    case token(String, orKeys: [ClientKey] = [])
    /// Keys, offered in order until the server accepts one.
    case keys([ClientKey])

    /// One private key this process holds (``SSHPrivateKey``, read from a file with ``KeyFile``).
    public static func key(_ key: SSHPrivateKey) -> ClientCredentials { .keys([.file(key)]) }

    /// The keys among these credentials.
    private var keys: [ClientKey] {
        switch self {
        case .token(_, let keys), .keys(let keys): keys
        }
    }

    /// The credential the handshake offers.
    var handshake: ClientHandshake.Credential {
        switch self {
        case .token(let token, let keys): .token(token, orKeys: keys.map(\.publicKey))
        case .keys(let keys): .keys(keys.map(\.publicKey))
        }
    }

    /// Signs a handshake transcript with `key`, which must be one of ours; the result arrives on `eventLoop`.
    func sign(_ transcript: [UInt8], with key: SSHPublicKey, on eventLoop: any EventLoop) -> EventLoopFuture<
        SSHSignature
    > {
        guard let signer = keys.first(where: { $0.publicKey == key }) else {
            return eventLoop.makeFailedFuture(PorterError(.authentication, "no private key for \(key.fingerprint)"))
        }
        return signer.sign(transcript, on: eventLoop)
    }
}

/// A key a client can sign with: one it holds, or one an ssh-agent holds.
public enum ClientKey: Sendable {
    /// A private key this process holds.
    case file(SSHPrivateKey)
    /// A key of a running ssh-agent, which signs, so that the private key never enters this process.
    case agent(SSHAgent, SSHPublicKey)

    /// The public half.
    public var publicKey: SSHPublicKey {
        switch self {
        case .file(let key): key.publicKey
        case .agent(_, let key): key
        }
    }

    /// Signs `transcript`: at once with a key held here, on NIO's thread pool with an agent (which may wait for
    /// its user to confirm). The result arrives on `eventLoop`.
    func sign(_ transcript: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<SSHSignature> {
        switch self {
        case .file(let key):
            return eventLoop.makeCompletedFuture {
                do {
                    return try key.signature(for: transcript)
                } catch {
                    throw PorterError(.authentication, "cannot sign with key \(key.publicKey.fingerprint): \(error)")
                }
            }
        case .agent(let agent, let key):
            return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                do {
                    return try agent.sign(transcript, with: key)
                } catch {
                    throw PorterError(.authentication, "\(error)")
                }
            }
        }
    }
}

extension ClientCredentials {
    /// The credentials a client command uses, in this order (as ssh chooses, with Porter's token second):
    /// 1. the key at `keyFile`, when given;
    /// 2. the token, when one is found: `tokenFile`, else `PORTER_TOKEN`, else `~/.porter/token` if it exists
    ///    (that last one may be for another server, the user's own: to a server that accepts no token,
    ///    `~/.porter/id_ed25519` is offered instead);
    /// 3. the key at `~/.porter/id_ed25519`, if it exists, and the Ed25519 and ECDSA P-256 keys of the ssh-agent
    ///    at `SSH_AUTH_SOCK`, if it holds any: all of them, each once, offered in that order until the server
    ///    accepts one.
    ///
    /// The agent is asked for its keys here, with blocking I/O: call this before connecting, not on an event loop;
    /// from async code, ``resolveWithoutBlocking(keyFile:tokenFile:environment:)``.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration`` when a file named cannot be used, or
    ///   nothing is found.
    public static func resolve(
        keyFile: String?, tokenFile: String?, environment: [String: String]
    ) throws(PorterError) -> ClientCredentials {
        if let keyFile { return .key(try KeyFile.load(at: keyFile)) }
        if tokenFile != nil || environment[TokenFile.environmentVariable].map({ !$0.isEmpty }) == true {
            return .token(try TokenFile.resolveForClient(tokenFile: tokenFile, environment: environment))
        }
        if PrivateFile.exists(TokenFile.defaultPath) {
            // Only the key file: asking an agent would slow every command that the token serves.
            let keys = try defaultKeys(agentSocket: nil)
            return .token(try TokenFile.load(at: TokenFile.defaultPath), orKeys: keys)
        }
        let keys = try defaultKeys(agentSocket: environment[SSHAgent.environmentVariable])
        if !keys.isEmpty { return .keys(keys) }
        throw PorterError(
            .configuration,
            "no token or key found: pass --token-file or --key, set \(TokenFile.environmentVariable), or make a key with `porter keygen`"
        )
    }

    /// ``resolve(keyFile:tokenFile:environment:)`` from async code: when the agent is to be asked, on NIO's thread
    /// pool, so that an agent that hangs (for up to ``SSHAgent``'s timeout) holds no task's thread; otherwise at
    /// once, as reading a file is.
    public static func resolveWithoutBlocking(
        keyFile: String?, tokenFile: String?, environment: [String: String]
    ) async throws(PorterError) -> ClientCredentials {
        let asksAgent =
            keyFile == nil && tokenFile == nil && environment[TokenFile.environmentVariable].map(\.isEmpty) ?? true
            && !PrivateFile.exists(TokenFile.defaultPath)
            && environment[SSHAgent.environmentVariable].map { !$0.isEmpty } == true
        guard asksAgent else { return try resolve(keyFile: keyFile, tokenFile: tokenFile, environment: environment) }
        let result: Result<ClientCredentials, PorterError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(PorterError) in
                    try resolve(keyFile: keyFile, tokenFile: tokenFile, environment: environment)
                }
            }
        } catch {
            throw PorterError(.configuration, "the keys of the ssh-agent could not be looked up: \(error)")
        }
        return try result.get()
    }

    /// `~/.porter/id_ed25519` if it exists, then the keys of the agent at `agentSocket` if one is given, each once.
    private static func defaultKeys(agentSocket: String?) throws(PorterError) -> [ClientKey] {
        // Porter's own key first, so that an agent holding many keys cannot use up the server's tries before it.
        var keys: [ClientKey] = []
        if PrivateFile.exists(KeyFile.defaultPath) { keys.append(.file(try KeyFile.load(at: KeyFile.defaultPath))) }
        if let socket = agentSocket, !socket.isEmpty {
            // An agent that cannot be reached is no error: the key file may still do.
            let agent = SSHAgent(socketPath: socket)
            for (key, _) in (try? agent.identities()) ?? [] where !keys.contains(where: { $0.publicKey == key }) {
                keys.append(.agent(agent, key))
            }
        }
        return keys
    }
}
