import NIOCore

/// Splits a byte stream into ``Frame``s, refusing an oversized declared length as soon as the header arrives.
///
/// ```
/// +--------+--------+-----------------------------------+=============+
/// |  kind  | stream |   payload length (UInt32, BE)     |   payload   |
/// +--------+--------+-----------------------------------+=============+
///   1 byte   1 byte              4 bytes                 length bytes
/// ```
///
/// The decoder is a small read-state machine: it parses and validates a header once, then waits for exactly
/// that many payload bytes without consuming a partial frame. It does no I/O and can be driven by
/// `ByteToMessageHandler` or directly with `NIOSingleStepByteToMessageProcessor`.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    private enum State {
        case waitingForHeader
        case waitingForPayload(kind: Frame.Kind, stream: Frame.Stream, length: Int)
    }

    private var state: State = .waitingForHeader
    private let limits: FrameLimits

    /// Creates a decoder enforcing `limits`.
    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
    }

    /// Decodes the next frame, or returns `nil` without consuming anything past a complete header.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badFrame`` or ``ProtocolError/Code/frameTooLarge``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        if case .waitingForHeader = state {
            guard let header = try readHeader(from: &buffer) else { return nil }
            state = .waitingForPayload(kind: header.kind, stream: header.stream, length: header.length)
        }
        guard case .waitingForPayload(let kind, let stream, let length) = state,
            let payload = buffer.readSlice(length: length)
        else { return nil }
        state = .waitingForHeader
        return Frame(kind: kind, stream: stream, payload: payload)
    }

    /// Decodes what is left when the stream ends; a partial frame at end of stream is an error.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if case .waitingForPayload = state {
            throw ProtocolError(.badFrame, "connection closed in the middle of a frame")
        }
        if seenEOF, buffer.readableBytes > 0 {
            throw ProtocolError(.badFrame, "connection closed in the middle of a frame header")
        }
        return nil
    }

    private func readHeader(from buffer: inout ByteBuffer) throws -> (
        kind: Frame.Kind, stream: Frame.Stream, length: Int
    )? {
        guard
            let (rawKind, rawStream, rawLength) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt8, UInt8, UInt32).self
            )
        else { return nil }
        guard let kind = Frame.Kind(rawValue: rawKind) else {
            throw ProtocolError(
                .badFrame, "unknown frame kind 0x\(String(rawKind, radix: 16)); is this a Porter client?")
        }
        if kind == .control, rawStream != 0 {
            throw ProtocolError(.badFrame, "control frame on stream \(rawStream); control frames use stream 0")
        }
        let length = Int(rawLength)
        let limit = limits.maxPayload(for: kind)
        guard length <= limit else {
            throw ProtocolError(
                .frameTooLarge,
                "\(kind) frame of \(length) bytes exceeds the limit of \(limit) bytes"
            )
        }
        buffer.moveReaderIndex(forwardBy: Frame.headerLength)
        return (kind, Frame.Stream(rawValue: rawStream), length)
    }
}
