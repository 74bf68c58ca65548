import NIOCore

/// Writes ``Frame``s as a header of the encoder's ``FrameForm`` followed by the payload (see ``Frame`` for the
/// layout).
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    /// The header form written: six bytes (``FrameForm/handshake``) or ten (``FrameForm/channels``).
    public var form: FrameForm

    /// Creates an encoder writing `form`.
    public init(form: FrameForm = .handshake) {
        self.form = form
    }

    /// Appends `frame` to `out`.
    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        out.reserveCapacity(minimumWritableBytes: form.headerLength + frame.payload.readableBytes)
        frame.writeHeader(into: &out, form: form)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}

extension Frame {
    /// This frame's bytes on the wire, in `form`.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator(), form: FrameForm = .handshake)
        -> ByteBuffer
    {
        var out = allocator.buffer(capacity: form.headerLength + payload.readableBytes)
        // Encoding into a buffer cannot fail.
        try? FrameEncoder(form: form).encode(data: self, out: &out)
        return out
    }

    /// Writes this frame's header in `form`. The handshake form has no channel id and only control and data
    /// frames: anything else there is a programming error.
    func writeHeader(into out: inout ByteBuffer, form: FrameForm) {
        precondition(payload.readableBytes <= Int(UInt32.max), "frame payload exceeds UInt32")
        let length = UInt32(payload.readableBytes)
        switch form {
        case .handshake:
            precondition(
                channel == 0 && (kind == .control || kind == .data),
                "\(kind) frame on channel \(channel) in the handshake form")
            out.writeMultipleIntegers(kind.rawValue, stream.rawValue, length)
        case .channels:
            out.writeMultipleIntegers(kind.rawValue, stream.rawValue, length, channel)
        }
    }
}
