extension ChannelMessage {
    /// Payload of `accept`: the credit the server grants the client, and what the service tells about the channel,
    /// beside it in the one JSON object.
    public struct Accept: Codable, Sendable, Equatable {
        /// What each service says in its `accept`.
        public enum Details: Sendable, Equatable {
            /// `exec`: the command's process id (0 if it could not start).
            case exec(pid: Int)
            /// `file.get`: the file's size, where the data starts, its mode and time.
            case fileGet(ControlMessage.FileHeader)
            /// `file.put`: the bytes of an interrupted upload the server keeps.
            case filePut(ControlMessage.FileReady)
            /// `file.list`: what the path is (never a symlink: it is followed inside the root).
            case fileList(kind: ControlMessage.FileType)
            /// `echo`: nothing.
            case echo
            /// `chat`: the room, the name and the members, the new one included.
            case chat(ControlMessage.ChatJoined)
            /// `forward`: nothing; the server has connected to the target.
            case forward

            /// The service these details belong to.
            public var service: ChannelService {
                switch self {
                case .exec: .exec
                case .fileGet: .fileGet
                case .filePut: .filePut
                case .fileList: .fileList
                case .echo: .echo
                case .chat: .chat
                case .forward: .forward
                }
            }
        }

        /// Bytes of data the client may send on the channel before the server grants more.
        public var window: Int
        /// The service's members.
        public var details: Details

        private enum CodingKeys: String, CodingKey {
            case window, pid, kind
        }

        /// Creates the payload.
        public init(window: Int, details: Details) {
            self.window = window
            self.details = details
        }

        /// Decodes the payload for the channel's service, which the decoder's user info holds.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.window = try container.decode(Int.self, forKey: .window)
            self.details =
                switch try ChannelMessage.service(of: decoder, for: "accept") {
                case .exec: .exec(pid: try container.decode(Int.self, forKey: .pid))
                case .fileGet: .fileGet(try ControlMessage.FileHeader(from: decoder))
                case .filePut: .filePut(try ControlMessage.FileReady(from: decoder))
                case .fileList: .fileList(kind: try container.decode(ControlMessage.FileType.self, forKey: .kind))
                case .echo: .echo
                case .chat: .chat(try ControlMessage.ChatJoined(from: decoder))
                case .forward: .forward
                }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(window, forKey: .window)
            switch details {
            case .exec(let pid): try container.encode(pid, forKey: .pid)
            case .fileGet(let body): try body.encode(to: encoder)
            case .filePut(let body): try body.encode(to: encoder)
            case .fileList(let kind): try container.encode(kind, forKey: .kind)
            case .chat(let body): try body.encode(to: encoder)
            case .echo, .forward: break
            }
        }
    }

    /// The service a channel message is decoded for, from the decoder's user info.
    ///
    /// - Throws: ``ProtocolError/Code/unexpectedMessage`` when there is none: `type` arrived on a channel that
    ///   is not open for a service.
    static func service(of decoder: any Decoder, for type: String) throws(ProtocolError) -> ChannelService {
        guard let service = decoder.userInfo[MessageJSON.serviceKey] as? ChannelService else {
            throw ProtocolError(.unexpectedMessage, "'\(type)' on a channel that has no service")
        }
        return service
    }
}
