import NIOCore
import PorterProtocol

/// The connection end of a ``PorterChildChannel``: the multiplexer, which holds every channel's
/// ``ChannelStateMachine`` and writes frames on the connection.
///
/// Every method is called on the connection's event loop. Writes are not flushed until ``flushConnection()``.
protocol ChildChannelParent: AnyObject {
    /// Writes as much of `data` as channel `id`'s credit and the peer's `maxDataPayload` allow, as data frames on
    /// `stream`, and leaves the rest in `data`.
    ///
    /// - Returns: the future of the last frame written, or `nil` when the credit allowed none.
    func write(channel id: UInt32, data: inout ByteBuffer, on stream: Frame.Stream)
        throws(ChannelStateMachine.Refusal) -> EventLoopFuture<Void>?

    /// Writes a message of the channel's service.
    func write(channel id: UInt32, message: ChannelMessage) throws(ChannelStateMachine.Refusal) -> EventLoopFuture<Void>

    /// Sends channel `id`'s eof: this side sends no more data.
    func writeEOF(channel id: UInt32)

    /// Sends channel `id`'s close: this side sends nothing more. The id is free once the peer's close arrives.
    func writeClose(channel id: UInt32)

    /// Flushes the connection.
    func flushConnection()

    /// The child delivered `bytes` of channel `id`'s data to its pipeline: the peer's credit may be renewed.
    func consumed(channel id: UInt32, bytes: Int)
}
