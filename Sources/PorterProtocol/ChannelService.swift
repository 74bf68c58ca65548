/// What a channel carries: the `service` member of its `open` (docs/PROTOCOL.md section 5.4).
///
/// A channel's messages are decoded knowing its service, since `accept` and `done` have other members in each.
public enum ChannelService: String, Codable, Sendable, CaseIterable {
    /// Runs a command: stdin on stream 0 to the server, stdout and stderr on streams 1 and 2 back.
    case exec
    /// Downloads a file.
    case fileGet = "file.get"
    /// Uploads a file.
    case filePut = "file.put"
    /// Lists a path.
    case fileList = "file.list"
    /// Echoes data, ASCII letters upper-cased.
    case echo
    /// Joins a chat room.
    case chat
    /// Carries a TCP connection to a target the server connects to.
    case forward
}
