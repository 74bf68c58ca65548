import NIOCore
import PorterProtocol

/// The connection end of a ``PorterChildChannel``: the multiplexer, which holds every channel's
/// ``ChannelStateMachine`` and writes frames on the connection.
///
/// Every method is called on the connection's event loop. Writes are not flushed until ``flushConnection()``.
protocol ChildChannelParent: AnyObject {
    /// Writes as much of `data` as channel `id`'s credit and the peer's `maxDataPayload` allow, as data frames on
    /// `stream`, and leaves the rest in `data`. When every byte was written, `promise` completes with the last
    /// frame's write; otherwise it is the caller's still (for the rest). A write without a promise makes no future.
    ///
    /// - Returns: whether a frame was written (`false` when the credit allowed none, or `data` was empty).
    func write(channel id: UInt32, data: inout ByteBuffer, on stream: Frame.Stream, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal) -> Bool

    /// Writes a message of the channel's service, as `payload` if its JSON was made already; `promise` completes
    /// with the frame's write.
    func write(channel id: UInt32, message: ChannelMessage, payload: ByteBuffer?, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal)

    /// Sends channel `id`'s eof: this side sends no more data.
    func writeEOF(channel id: UInt32)

    /// Sends channel `id`'s close: this side sends nothing more. The id is free once the peer's close arrives.
    func writeClose(channel id: UInt32)

    /// Flushes the connection: at once, or, while the connection's read is being handled, at that read's end.
    func flushConnection()

    /// The child delivered `bytes` of channel `id`'s data to its pipeline: the peer's credit may be renewed.
    func consumed(channel id: UInt32, bytes: Int)
}
