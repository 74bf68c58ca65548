import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The payload types of Porter's control messages: the JSON objects that connection messages
/// (``ConnectionMessage``, channel 0) and channel messages (``ChannelMessage``) carry, and the constants of the
/// handshake.
///
/// On the wire each message is one JSON object whose `"type"` member names the message; its other members are the
/// fields of the payload type. Unknown members are ignored, so fields can be added in later versions.
///
/// ```
/// {"type":"chat.say","text":"hello"}
/// ```
public enum ControlMessage: Sendable {}

extension ControlMessage {
    /// The protocol versions this implementation speaks.
    public static let supportedVersions: [Int] = [ConnectionMessage.version]
    /// The length of a handshake nonce in bytes.
    public static let nonceLength = 32

    /// Payload of `hello`.
    public struct Hello: Codable, Sendable, Equatable {
        /// Protocol versions the client speaks.
        public var versions: [Int]
        /// The client software, e.g. `porter/0.1.0`.
        public var agent: String
        /// ``ControlMessage/nonceLength`` random bytes.
        public var nonce: Bytes
        /// The largest payloads the client accepts; absent, the defaults of ``FrameLimits``.
        public var limits: FrameLimits?
        /// Creates the payload.
        public init(versions: [Int], agent: String, nonce: Bytes, limits: FrameLimits? = nil) {
            self.versions = versions
            self.agent = agent
            self.nonce = nonce
            self.limits = limits
        }
    }

    /// Payload of `auth`.
    public struct Auth: Codable, Sendable, Equatable {
        /// The method, one of those the server offered in `welcome`.
        public var method: String
        /// Method `publickey`: the client's public key in SSH's wire form (``SSHPublicKey/blob``); absent for
        /// `hmac-sha256`.
        public var key: Bytes?
        /// The client's proof: the token proof (``AuthProof``), or the key's signature in SSH's wire form
        /// (``PublicKeyProof``).
        public var proof: Bytes
        /// Creates the payload.
        public init(method: String, key: Bytes? = nil, proof: Bytes) {
            self.method = method
            self.key = key
            self.proof = proof
        }
    }

    /// Payload of `ready`.
    public struct Ready: Codable, Sendable, Equatable {
        /// Method `hmac-sha256`: the server's proof (see ``AuthProof``), so the client knows the server holds the
        /// token too. Absent for `publickey`, where the server is known by its certificate alone.
        public var proof: Bytes?
        /// Creates the payload.
        public init(proof: Bytes?) { self.proof = proof }
    }

    /// Payload of `ping` and `pong`.
    public struct Ping: Codable, Sendable, Equatable {
        /// An id the client chooses; the `pong` repeats it.
        public var id: UInt64
        /// Creates the payload.
        public init(id: UInt64) { self.id = id }
    }

    /// Payload of `error`.
    public struct ErrorBody: Codable, Sendable, Equatable {
        /// The stable code.
        public var code: ProtocolError.Code
        /// A one-line explanation for a person.
        public var message: String
        /// Whether the sender closes the connection after this message.
        public var fatal: Bool
        /// Creates the payload.
        public init(code: ProtocolError.Code, message: String, fatal: Bool) {
            self.code = code
            self.message = message
            self.fatal = fatal
        }
        /// The payload describing `error`.
        public init(_ error: ProtocolError, fatal: Bool) {
            self.init(code: error.code, message: error.message, fatal: fatal)
        }
        /// This payload as an error value.
        public var protocolError: ProtocolError { ProtocolError(code, message) }
    }

    /// Payload of `chat.join`.
    public struct ChatJoin: Codable, Sendable, Equatable {
        /// The room to join; created if it does not exist.
        public var room: String
        /// The name to use in the room.
        public var name: String
        /// Creates the payload.
        public init(room: String, name: String) {
            self.room = room
            self.name = name
        }
    }

    /// Payload of `chat.joined`.
    public struct ChatJoined: Codable, Sendable, Equatable {
        /// The room joined.
        public var room: String
        /// The name the client has in the room.
        public var name: String
        /// Everyone in the room, the client included, sorted.
        public var members: [String]
        /// Creates the payload.
        public init(room: String, name: String, members: [String]) {
            self.room = room
            self.name = name
            self.members = members
        }
    }

    /// Payload of `chat.say`.
    public struct ChatSay: Codable, Sendable, Equatable {
        /// What to say.
        public var text: String
        /// Creates the payload.
        public init(text: String) { self.text = text }
    }

    /// Payload of `chat.message`.
    public struct ChatMessage: Codable, Sendable, Equatable {
        /// Who said it.
        public var from: String
        /// What was said, exactly as sent: receivers must make control characters harmless before display.
        public var text: String
        /// Whether only this client received it.
        public var `private`: Bool
        /// Creates the payload.
        public init(from: String, text: String, private isPrivate: Bool) {
            self.from = from
            self.text = text
            self.private = isPrivate
        }
    }

    /// Payload of `chat.members`.
    public struct ChatMembers: Codable, Sendable, Equatable {
        /// The room.
        public var room: String
        /// Its members, sorted.
        public var members: [String]
        /// Creates the payload.
        public init(room: String, members: [String]) {
            self.room = room
            self.members = members
        }
    }

    /// Payload of `chat.nick`.
    public struct ChatNick: Codable, Sendable, Equatable {
        /// The new name.
        public var name: String
        /// Creates the payload.
        public init(name: String) { self.name = name }
    }

    /// Payload of `chat.msg`.
    public struct ChatPrivate: Codable, Sendable, Equatable {
        /// The member to send to.
        public var to: String
        /// What to say.
        public var text: String
        /// Creates the payload.
        public init(to: String, text: String) {
            self.to = to
            self.text = text
        }
    }

    /// Payload of `chat.presence`.
    public struct ChatPresence: Codable, Sendable, Equatable {
        /// What happened.
        public enum Event: String, Codable, Sendable {
            /// `name` joined the room.
            case joined
            /// `name` left the room.
            case left
            /// `name` is now called `newName`.
            case renamed
        }
        /// What happened.
        public var event: Event
        /// Who it happened to.
        public var name: String
        /// The new name, for `renamed`.
        public var newName: String?
        /// Creates the payload.
        public init(event: Event, name: String, newName: String? = nil) {
            self.event = event
            self.name = name
            self.newName = newName
        }
    }

    /// Bytes carried in JSON as a standard base64 string.
    public struct Bytes: Codable, Sendable, Equatable {
        /// The bytes.
        public var bytes: [UInt8]
        /// Wraps `bytes`.
        public init(_ bytes: [UInt8]) { self.bytes = bytes }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "not base64")
                )
            }
            self.bytes = Array(data)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(Data(bytes).base64EncodedString())
        }
    }
}
