import NIOCore
import PorterProtocol

extension PorterChildChannel {
    /// A write of the pipeline that is not handed on to the multiplexer yet, with its promise.
    enum PendingWrite {
        /// Data on a sub-stream: the bytes not yet written (a write waiting for credit keeps only its rest).
        case data(Frame.Stream, ByteBuffer, EventLoopPromise<Void>?)
        /// A message of the channel's service, with its JSON if that was made already (``EncodedMessage``).
        case message(ChannelMessage, ByteBuffer?, EventLoopPromise<Void>?)
        /// This side's eof, from `close(mode: .output)`.
        case eof(EventLoopPromise<Void>?)
        /// This side's close, from ``Finish``: once what is ahead of it is handed on.
        case close(EventLoopPromise<Void>?)

        /// The promise to complete when the write is handed on.
        var promise: EventLoopPromise<Void>? {
            switch self {
            case .data(_, _, let promise), .message(_, _, let promise), .eof(let promise), .close(let promise): promise
            }
        }

        /// The data bytes it holds (messages and eof use no credit).
        var dataBytes: Int {
            if case .data(_, let bytes, _) = self { bytes.readableBytes } else { 0 }
        }
    }
}

extension PorterChildChannel {
    /// What a pipeline may write instead of ``ChannelContent/message(_:)``: a message whose JSON is made already,
    /// because the same event goes to many channels (a chat room's members) and is encoded once for all of them.
    /// `payload` must be `message.payload`.
    struct EncodedMessage: Sendable {
        let message: ChannelMessage
        let payload: ByteBuffer
    }
}
