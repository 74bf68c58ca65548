import NIOCore

extension ConnectionStateMachine {
    /// The deadlines of a connection.
    public struct Timeouts: Sendable, Equatable {
        /// From activation until `ready` is sent, TLS handshake included (`--auth-timeout`).
        public var authentication: TimeAmount
        /// How long the client may send no complete frame before the connection closes; `nil`: no limit.
        public var idle: TimeAmount?

        /// Creates the deadlines of a connection.
        public init(authentication: TimeAmount, idle: TimeAmount?) {
            self.authentication = authentication
            self.idle = idle
        }

        /// `amount` in seconds as the error messages say it: `10`, or `0.25`.
        static func seconds(_ amount: TimeAmount) -> String {
            let value = Double(amount.nanoseconds) / 1e9
            return value == value.rounded() ? String(Int(value)) : String(value)
        }
    }
}
