import PorterProtocol

/// A failure a person using Porter can act on: one line saying what went wrong and what to do.
public struct PorterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad kind of failure, which decides e.g. a command's exit status.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        public var description: String { name }

        /// A bad endpoint, option, or local file.
        public static let configuration = Kind(name: "configuration")
        /// The server could not be reached, or the connection broke.
        public static let connection = Kind(name: "connection")
        /// The handshake failed: wrong token, impostor server, no common version.
        public static let authentication = Kind(name: "authentication")
        /// The peer broke the protocol, or the server reported a fatal error.
        public static let protocolViolation = Kind(name: "protocol")
        /// The server refused one request but the connection goes on (a chat name taken, say).
        public static let refused = Kind(name: "refused")
    }

    /// The kind of failure.
    public var kind: Kind
    /// One line for a person.
    public var message: String
    /// The protocol code behind the failure, if the server sent one.
    public var code: ProtocolError.Code?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, code: ProtocolError.Code? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String { message }

    /// The error for an `error` message from the server.
    init(remote body: ControlMessage.ErrorBody) {
        let kind: Kind =
            switch body.code {
            case .shuttingDown: .connection
            case _ where !body.fatal: .refused
            case .authFailed, .authTimeout, .unsupportedVersion: .authentication
            default: .protocolViolation
            }
        self.init(kind, "server: \(TerminalText.escaped(body.message))", code: body.code)
    }
}
