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
