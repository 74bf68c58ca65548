import NIOCore

/// Writes ``Frame``s as a six-byte header followed by the payload (see ``FrameDecoder`` for the layout).
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    /// Creates an encoder.
    public init() {}

    /// Appends `frame` to `out`.
    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        precondition(frame.payload.readableBytes <= Int(UInt32.max), "frame payload exceeds UInt32")
        out.reserveCapacity(minimumWritableBytes: Frame.headerLength + frame.payload.readableBytes)
        out.writeMultipleIntegers(
            frame.kind.rawValue,
            frame.stream.rawValue,
            UInt32(frame.payload.readableBytes)
        )
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}

extension Frame {
    /// This frame's bytes on the wire.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var out = allocator.buffer(capacity: Frame.headerLength + payload.readableBytes)
        // Encoding into a buffer cannot fail.
        try? FrameEncoder().encode(data: self, out: &out)
        return out
    }
}

/// Writes ``Frame``s to a channel without copying large payloads: the header goes out in its own small buffer
/// and a payload over ``copyThreshold`` bytes follows as it is, so a 1 MiB data frame costs no memcpy.
public final class FrameWriteHandler: ChannelOutboundHandler, Sendable {
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    /// Payloads up to this size are copied behind their header into one buffer, which is cheaper than two writes.
    public static let copyThreshold = 16 * 1024

    /// Creates the handler.
    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard frame.payload.readableBytes > Self.copyThreshold else {
            context.write(wrapOutboundOut(frame.encoded(allocator: context.channel.allocator)), promise: promise)
            return
        }
        var header = context.channel.allocator.buffer(capacity: Frame.headerLength)
        header.writeMultipleIntegers(frame.kind.rawValue, frame.stream.rawValue, UInt32(frame.payload.readableBytes))
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(frame.payload), promise: promise)
    }
}
