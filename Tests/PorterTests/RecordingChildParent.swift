import NIOCore
import PorterProtocol

@testable import Porter

/// A ``ChildChannelParent`` that records what a child channel hands it and, as the multiplexer does, takes at most
/// `credit` data bytes per write.
final class RecordingChildParent: ChildChannelParent {
    /// What the child handed on, in order.
    enum Event: Equatable {
        case data(Frame.Stream, String)
        case message(ChannelMessage)
        case eof
        case close
        case flush
    }

    /// The peer's credit: what data writes may still take.
    var credit: Int
    /// When set, writes throw it.
    var refusal: ChannelStateMachine.Refusal?
    private(set) var events: [Event] = []
    /// The byte counts of `consumed` calls.
    private(set) var consumed: [Int] = []
    /// The channel ids of every call.
    private(set) var channelIDs: Set<UInt32> = []
    init(credit: Int) {
        self.credit = credit
    }

    /// The number of closes the child sent.
    var closes: Int { events.count { $0 == .close } }

    func write(channel id: UInt32, data: inout ByteBuffer, on stream: Frame.Stream, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal) -> Bool
    {
        channelIDs.insert(id)
        if let refusal { throw refusal }
        let taken = min(credit, data.readableBytes)
        guard taken > 0, let frame = data.readSlice(length: taken) else { return false }
        credit -= taken
        events.append(.data(stream, String(buffer: frame)))
        if data.readableBytes == 0 { promise?.succeed() }
        return true
    }

    func write(channel id: UInt32, message: ChannelMessage, payload: ByteBuffer?, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal)
    {
        channelIDs.insert(id)
        if let refusal { throw refusal }
        if let payload { precondition(payload == message.payload, "a made payload is the message's own JSON") }
        events.append(.message(message))
        promise?.succeed()
    }

    func writeEOF(channel id: UInt32) {
        channelIDs.insert(id)
        events.append(.eof)
    }

    func writeClose(channel id: UInt32) {
        channelIDs.insert(id)
        events.append(.close)
    }

    func flushConnection() {
        events.append(.flush)
    }

    func consumed(channel id: UInt32, bytes: Int) {
        channelIDs.insert(id)
        consumed.append(bytes)
    }
}
