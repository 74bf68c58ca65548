extension ChannelMessage {
    /// Whether `sender` may send this message on an accepted channel of `service` (docs/PROTOCOL.md
    /// section 5.4). `open`, `accept` and `refuse`, which open a channel, never are.
    public func isSent(by sender: ChannelStateMachine.Role, on service: ChannelService) -> Bool {
        switch (self, sender) {
        case (.fail, .server):
            true
        case (.reject, .server):
            service == .exec || service == .chat
        case (.done, .server):
            service != .exec
        case (.execExit, .server):
            service == .exec
        case (.execSignal, .client), (.execResize, .client):
            service == .exec
        case (.fileBegin, .client), (.fileEnd, .client):
            service == .filePut
        case (.fileListing, .server):
            service == .fileList
        case (.chatSay, .client), (.chatPrivate, .client), (.chatNick, .client), (.chatWho, .client),
            (.chatMessage, .server), (.chatPresence, .server), (.chatMembers, .server):
            service == .chat
        default:
            false
        }
    }

    /// Whether this message is a channel's result: `exec.exit`, `done` or `fail` (section 5.1).
    public var isResult: Bool {
        switch self {
        case .execExit, .done, .fail: true
        default: false
        }
    }

    /// Whether a sender may send this message ahead of data that waits for the peer's window: a request about the
    /// channel (`exec.signal`, `exec.resize`) rather than a step of its stream, as SSH's channel requests are. A
    /// result, eof and every other message stay behind the data written before them.
    public var goesAheadOfHeldData: Bool {
        switch self {
        case .execSignal, .execResize: true
        default: false
        }
    }
}
