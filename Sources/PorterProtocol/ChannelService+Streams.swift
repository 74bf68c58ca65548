extension ChannelService {
    /// Whether `sender` may send data on `stream` on a channel of this service (docs/PROTOCOL.md section
    /// 5.4): exec's output on streams 1 and 2 from server to client, everything else on stream 0.
    public func carries(_ stream: Frame.Stream, from sender: ChannelStateMachine.Role) -> Bool {
        if self == .exec, sender == .server {
            return stream == .output || stream == .error
        }
        return stream == .main
    }
}
