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
    let token: String
    let chat: ChatService
    let exec: ExecService
    let files: FileService
    let forward: ForwardService
    let memory: MemoryReturn
    let logger: Logger

    init(
        identity: ServerHandshake.Identity, token: String, chat: ChatService, exec: ExecService, files: FileService,
        forward: ForwardService, memory: MemoryReturn, logger: Logger
    ) {
        self.identity = identity
        self.token = token
        self.chat = chat
        self.exec = exec
        self.files = files
        self.forward = forward
        self.memory = memory
        self.logger = logger
    }

    static func logClosing(_ error: ProtocolError, logger: Logger) {
        logger.info("closing connection: \(error.message)", metadata: ["error.code": "\(error.code.rawValue)"])
    }
}
