extension ConnectionMessage {
    /// Payload of `global`: a request on channel 0 that belongs to no channel, answered exactly once, in order.
    ///
    /// ```
    /// {"type":"global","id":4,"name":"file.symlink","path":"latest","target":"v2"}
    /// ```
    public struct GlobalRequest: Codable, Sendable, Equatable {
        /// What a global request asks for; its members stand beside `id` and `name`.
        public enum Request: Sendable, Equatable {
            /// `file.mkdir`: create a directory under the root.
            case fileMkdir(ControlMessage.FileMkdir)
            /// `file.symlink`: create a symlink that cannot resolve outside the root.
            case fileSymlink(ControlMessage.FileSymlink)
            /// `file.attrs`: set permission bits and modification time.
            case fileAttrs(ControlMessage.FileAttributes)
            /// A request this implementation does not know; answered `global.fail` `unknown-request`.
            case unknown(name: String)

            /// The `name` member.
            public var name: String {
                switch self {
                case .fileMkdir: "file.mkdir"
                case .fileSymlink: "file.symlink"
                case .fileAttrs: "file.attrs"
                case .unknown(let name): name
                }
            }
        }

        /// The client's id for the request, 0 to 2^53−1; the answer repeats it.
        public var id: UInt64
        /// What is asked.
        public var request: Request

        private enum CodingKeys: String, CodingKey {
            case id, name
        }

        /// Creates the payload.
        public init(id: UInt64, request: Request) {
            self.id = id
            self.request = request
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.id = try container.decode(UInt64.self, forKey: .id)
            let name = try container.decode(String.self, forKey: .name)
            switch name {
            case "file.mkdir": self.request = .fileMkdir(try ControlMessage.FileMkdir(from: decoder))
            case "file.symlink": self.request = .fileSymlink(try ControlMessage.FileSymlink(from: decoder))
            case "file.attrs": self.request = .fileAttrs(try ControlMessage.FileAttributes(from: decoder))
            default: self.request = .unknown(name: name)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(request.name, forKey: .name)
            switch request {
            case .fileMkdir(let body): try body.encode(to: encoder)
            case .fileSymlink(let body): try body.encode(to: encoder)
            case .fileAttrs(let body): try body.encode(to: encoder)
            case .unknown: break
            }
        }
    }

    /// Payload of `global.ok`.
    public struct GlobalOK: Codable, Sendable, Equatable {
        /// The id of the request that succeeded.
        public var id: UInt64
        /// Creates the payload.
        public init(id: UInt64) { self.id = id }
    }

    /// Payload of `global.fail`: `id`, `code` and `message`.
    public struct GlobalFail: Codable, Sendable, Equatable {
        /// The id of the request that failed.
        public var id: UInt64
        /// Why it failed.
        public var error: ProtocolError

        private enum CodingKeys: String, CodingKey {
            case id
        }

        /// Creates the payload.
        public init(id: UInt64, error: ProtocolError) {
            self.id = id
            self.error = error
        }

        public init(from decoder: any Decoder) throws {
            self.id = try decoder.container(keyedBy: CodingKeys.self).decode(UInt64.self, forKey: .id)
            self.error = try ProtocolError(from: decoder)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try error.encode(to: encoder)
        }
    }
}
