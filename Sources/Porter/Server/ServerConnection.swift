import Logging
import NIOCore
import PorterProtocol

/// What every native connection of a server is served with: the identity and token of the handshake, the
/// services that answer opens and global requests (``ChannelServices``), and the server's logger.
///
/// One per server, shared by reference: every connection's ``ChannelServices`` holds it, so a connection costs a
/// pointer for it, not a copy of the bundle.
final class ServerConnection: Sendable {
    let identity: ServerHandshake.Identity
    /// The token, unless token authentication is off.
    let token: String?
    /// The authorized keys, if the server has a file of them.
    let authorizedKeys: AuthorizedKeysFile?
    let chat: ChatService
    let exec: ExecService
    let files: FileService
    let forward: ForwardService
    let memory: MemoryReturn
    /// The audit log and session recordings, if either is on.
    let audit: AuditTrail?
    let logger: Logger

    init(
        identity: ServerHandshake.Identity, token: String?, authorizedKeys: AuthorizedKeysFile?, chat: ChatService,
        exec: ExecService, files: FileService,
        forward: ForwardService, memory: MemoryReturn, audit: AuditTrail? = nil, logger: Logger
    ) {
        self.identity = identity
        self.token = token
        self.authorizedKeys = authorizedKeys
        self.chat = chat
        self.exec = exec
        self.files = files
        self.forward = forward
        self.memory = memory
        self.audit = audit
        self.logger = logger
    }

    /// What a client connecting from `peer` may authenticate with.
    func credentials(peer: SocketAddress?) -> ServerHandshake.Credentials {
        ServerHandshake.Credentials(
            token: token, currentKeys: authorizedKeys.map { file in { @Sendable in file.current() } },
            peerAddress: peer?.ipAddress)
    }

    static func logClosing(_ error: ProtocolError, logger: Logger) {
        logger.info("closing connection: \(error.message)", metadata: ["error.code": "\(error.code.rawValue)"])
    }
}
