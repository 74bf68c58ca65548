import Logging
import NIOCore
import PorterProtocol

/// What every native connection of a server is served with: the identity and token of the handshake, the
/// services that answer opens and global requests (``ChannelServices``), and the server's logger.
struct ServerConnection: Sendable {
    let identity: ServerHandshake.Identity
    let token: String
    let chat: ChatService
    let exec: ExecService
    let files: FileService
    let forward: ForwardService
    let memory: MemoryReturn
    let logger: Logger

    static func logClosing(_ error: ProtocolError, logger: Logger) {
        logger.info("closing connection: \(error.message)", metadata: ["error.code": "\(error.code.rawValue)"])
    }
}
