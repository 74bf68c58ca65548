extension ChannelMessage {
    /// Payload of `open`: the service, the credit the client grants the server, and the service's parameters,
    /// which stand beside them in the one JSON object.
    public struct Open: Codable, Sendable, Equatable {
        /// A service and its parameters.
        public enum Parameters: Sendable, Equatable {
            /// `exec`: the command (``ControlMessage/Exec``).
            case exec(ControlMessage.Exec)
            /// `file.get`: the file and where to resume.
            case fileGet(ControlMessage.FileGet)
            /// `file.put`: the file, its size and attributes.
            case filePut(ControlMessage.FilePut)
            /// `file.list`: the path.
            case fileList(ControlMessage.FileList)
            /// `echo`: no parameters.
            case echo
            /// `chat`: the room and the name.
            case chat(ControlMessage.ChatJoin)
            /// `forward`: the target and the origin.
            case forward(Forward)
            /// A service this implementation does not know; the server refuses it `unknown-service`.
            case unknown(service: String)

            /// The service, unless it is unknown.
            public var service: ChannelService? {
                switch self {
                case .exec: .exec
                case .fileGet: .fileGet
                case .filePut: .filePut
                case .fileList: .fileList
                case .echo: .echo
                case .chat: .chat
                case .forward: .forward
                case .unknown: nil
                }
            }

            /// The `service` member.
            public var serviceName: String {
                if case .unknown(let service) = self { return service }
                return service?.rawValue ?? ""
            }
        }

        /// Bytes of data the server may send on the channel before the client grants more.
        public var window: Int
        /// The service and its parameters.
        public var parameters: Parameters

        private enum CodingKeys: String, CodingKey {
            case service, window
        }

        /// Creates the payload.
        public init(window: Int, parameters: Parameters) {
            self.window = window
            self.parameters = parameters
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.window = try container.decode(Int.self, forKey: .window)
            let name = try container.decode(String.self, forKey: .service)
            self.parameters =
                switch ChannelService(rawValue: name) {
                case .exec: .exec(try ControlMessage.Exec(from: decoder))
                case .fileGet: .fileGet(try ControlMessage.FileGet(from: decoder))
                case .filePut: .filePut(try ControlMessage.FilePut(from: decoder))
                case .fileList: .fileList(try ControlMessage.FileList(from: decoder))
                case .echo: .echo
                case .chat: .chat(try ControlMessage.ChatJoin(from: decoder))
                case .forward: .forward(try Forward(from: decoder))
                case nil: .unknown(service: name)
                }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(parameters.serviceName, forKey: .service)
            try container.encode(window, forKey: .window)
            switch parameters {
            case .exec(let body): try body.encode(to: encoder)
            case .fileGet(let body): try body.encode(to: encoder)
            case .filePut(let body): try body.encode(to: encoder)
            case .fileList(let body): try body.encode(to: encoder)
            case .chat(let body): try body.encode(to: encoder)
            case .forward(let body): try body.encode(to: encoder)
            case .echo, .unknown: break
            }
        }
    }

    /// The parameters of a `forward` open: where the server connects, and where the client's connection came from.
    public struct Forward: Codable, Sendable, Equatable {
        /// The target: a host name, or an IP address without brackets.
        public var host: String
        /// The target's TCP port.
        public var port: Int
        /// The address of the local peer whose connection this channel carries, for the server's log.
        public var originHost: String?
        /// That peer's port.
        public var originPort: Int?
        /// Creates the parameters.
        public init(host: String, port: Int, originHost: String? = nil, originPort: Int? = nil) {
            self.host = host
            self.port = port
            self.originHost = originHost
            self.originPort = originPort
        }
    }
}
