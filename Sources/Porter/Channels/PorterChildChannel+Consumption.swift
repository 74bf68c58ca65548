import NIOCore

extension PorterChildChannel {
    /// When the peer's data counts as consumed, so that its credit is renewed (a `window` frame).
    enum Consumption: Sendable {
        /// As it is delivered to the pipeline: what the pipeline has not read yet stays within the window.
        case onDelivery
        /// When a handler says so with ``Consumed``: for a handler that hands data on to slower work (a disk
        /// write), so that what waits for that work stays within the window too.
        case reported
    }

    /// The channel option that sets ``Consumption``; `.onDelivery` unless set.
    struct ConsumptionOption: ChannelOption, Sendable {
        typealias Value = Consumption
    }

    /// An outbound user event: `bytes` of the peer's data are consumed, on a channel whose ``Consumption`` is
    /// `.reported`. Reported after the channel closed, or beyond what was delivered, it is ignored.
    struct Consumed: Sendable {
        let bytes: Int
    }

    /// The channel option that bounds the peer's messages the pipeline has not read yet: one more closes the
    /// channel after ``TooManyHeldMessages`` is fired into the pipeline. `nil` (unless set): no bound.
    ///
    /// Data waiting unread is bounded by the window this side granted, but messages need no credit. A client sets
    /// it for a chat membership, whose events arrive whether or not the program reads them.
    struct MaxHeldMessagesOption: ChannelOption, Sendable {
        typealias Value = Int?
    }

    /// The peer sent more messages than ``MaxHeldMessagesOption`` allows to wait unread; the channel closes.
    struct TooManyHeldMessages: Error, Sendable {
        let limit: Int
    }
}
