/// A protocol failure with a stable wire code and a message a person can act on.
///
/// Sent to the peer in an `error` control message (see ``ControlMessage/error(_:)``). Codes are strings so
/// that new ones can be added without breaking older peers, which treat an unknown code as fatal.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable, machine-readable code.
    public var code: Code
    /// A one-line explanation for a person.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A one-line description: the message followed by the code.
    public var description: String { "\(message) (\(code.rawValue))" }

    /// The error codes of the protocol (docs/PROTOCOL.md section 6).
    public struct Code: RawRepresentable, Hashable, Sendable, Codable {
        /// The code on the wire.
        public var rawValue: String
        /// Creates a code from its wire form.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A frame declared a payload longer than the receiver's limit for its kind.
        public static let frameTooLarge = Code(rawValue: "frame-too-large")
        /// A frame header was invalid: unknown kind, a control frame on a stream other than 0, any other header
        /// check of the channel form, or data on a stream its channel does not have.
        public static let badFrame = Code(rawValue: "bad-frame")
        /// An `open` on a channel id in use, a frame for an id not in use, or an id from 0x80000000 up.
        public static let badChannel = Code(rawValue: "bad-channel")
        /// Data beyond the window granted, or a window frame that takes the credit above 2^32−1.
        public static let flowControl = Code(rawValue: "flow-control")
        /// `refuse`: the server has no such service.
        public static let unknownService = Code(rawValue: "unknown-service")
        /// `global.fail`: the server has no such global request.
        public static let unknownRequest = Code(rawValue: "unknown-request")
        /// `refuse`: the client already has the most channels in use that the server allows.
        public static let tooManyChannels = Code(rawValue: "too-many-channels")
        /// `refuse`: the server does not allow this (forwarding off, a target not on its list).
        public static let notPermitted = Code(rawValue: "not-permitted")
        /// `refuse`: a forward target could not be reached.
        public static let connectFailed = Code(rawValue: "connect-failed")
        /// `fail`: a forward target's connection failed.
        public static let forwardError = Code(rawValue: "forward-error")
        /// A control payload was not a valid JSON message of a known type.
        public static let badMessage = Code(rawValue: "bad-message")
        /// A valid message arrived in a state where it is not allowed.
        public static let unexpectedMessage = Code(rawValue: "unexpected-message")
        /// The peers share no protocol version.
        public static let unsupportedVersion = Code(rawValue: "unsupported-version")
        /// The client's proof of the token was wrong, or it asked for an unknown method.
        public static let authFailed = Code(rawValue: "auth-failed")
        /// The client did not finish authenticating within the server's deadline.
        public static let authTimeout = Code(rawValue: "auth-timeout")
        /// Nothing arrived from the client within the server's idle timeout.
        public static let idleTimeout = Code(rawValue: "idle-timeout")
        /// The server is at its connection limit.
        public static let serverBusy = Code(rawValue: "server-busy")
        /// The server is shutting down.
        public static let shuttingDown = Code(rawValue: "shutting-down")
        /// A request named something invalid (a room or user name, an argument).
        public static let badRequest = Code(rawValue: "bad-request")
        /// The chosen chat name is already used in that room.
        public static let nameTaken = Code(rawValue: "name-taken")
        /// A private message named someone who is not in the room.
        public static let noSuchUser = Code(rawValue: "no-such-user")
        /// A limit other than frame size was reached (message length, rooms, members).
        public static let limitExceeded = Code(rawValue: "limit-exceeded")
        /// The client read too slowly and its outbound queue filled up.
        public static let slowConsumer = Code(rawValue: "slow-consumer")
        /// A plaintext client reached a listener that requires TLS.
        public static let tlsRequired = Code(rawValue: "tls-required")
        /// A TLS client reached a listener started with `--plaintext`.
        public static let tlsUnavailable = Code(rawValue: "tls-unavailable")
        /// A path named in a request does not exist.
        public static let notFound = Code(rawValue: "not-found")
        /// A path was refused: absolute, with `..`, a NUL byte, too long, or leading out of the root through a
        /// symlink.
        public static let badPath = Code(rawValue: "bad-path")
        /// A file operation failed on the server (permission denied, not a directory, disk full…).
        public static let fileError = Code(rawValue: "file-error")
        /// The digest of the data received differs from the sender's: nothing was written under the final name.
        public static let digestMismatch = Code(rawValue: "digest-mismatch")
        /// Another transfer to the same path is in progress.
        public static let fileBusy = Code(rawValue: "file-busy")
        /// An unexpected failure inside the server.
        public static let `internal` = Code(rawValue: "internal")
    }
}
