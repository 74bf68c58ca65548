extension ChannelMessage {
    /// Payload of `done`, the result of every service but exec; its members depend on the service.
    public enum Done: Codable, Sendable, Equatable {
        /// `file.get`: the digest of the whole file from byte 0.
        case fileGet(ControlMessage.FileEnd)
        /// `file.put`: the size now under the final name.
        case filePut(ControlMessage.FileDone)
        /// `file.list`: the listed directory's own entry and the names left out.
        case fileList(ListingEnd)
        /// `echo`, `chat`, `forward` (and `exec`, which ends with `exec.exit` instead): no members.
        case empty

        /// Decodes the payload for the channel's service, which the decoder's user info holds.
        public init(from decoder: any Decoder) throws {
            self =
                switch try ChannelMessage.service(of: decoder, for: "done") {
                case .fileGet: .fileGet(try ControlMessage.FileEnd(from: decoder))
                case .filePut: .filePut(try ControlMessage.FileDone(from: decoder))
                case .fileList: .fileList(try ListingEnd(from: decoder))
                case .exec, .echo, .chat, .forward: .empty
                }
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .fileGet(let body): try body.encode(to: encoder)
            case .filePut(let body): try body.encode(to: encoder)
            case .fileList(let body): try body.encode(to: encoder)
            case .empty: break
            }
        }
    }

    /// The members of a listing's `done`.
    public struct ListingEnd: Codable, Sendable, Equatable {
        /// A listed directory's own entry (its `path` is `.`), so that a recursive download can give the top
        /// directory its mode and time too.
        public var directory: ControlMessage.FileEntry?
        /// Entries left out because their names are not valid UTF-8.
        public var skipped: Int?
        /// Some of those names (at most ``maxSkippedNames``), bytes that are not UTF-8
        /// written `\xFF`.
        public var skippedNames: [String]?
        /// The most names ``skippedNames`` holds.
        public static let maxSkippedNames = 20
        /// Creates the payload.
        public init(directory: ControlMessage.FileEntry? = nil, skipped: Int? = nil, skippedNames: [String]? = nil) {
            self.directory = directory
            self.skipped = skipped
            self.skippedNames = skippedNames
        }
    }
}
