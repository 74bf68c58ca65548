extension ChannelStateMachine {
    /// Which end of the connection a machine runs on: the client opens channels, the server accepts them.
    public enum Role: Sendable, Equatable {
        /// The side that opens channels and allocates their ids.
        case client
        /// The side that accepts or refuses them.
        case server

        /// The other end.
        public var peer: Role {
            switch self {
            case .client: .server
            case .server: .client
            }
        }
    }
}
