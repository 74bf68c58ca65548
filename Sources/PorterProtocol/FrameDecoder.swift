import NIOCore

/// Splits a byte stream into ``Frame``s, refusing a bad header as soon as the bytes that show it arrive.
///
/// ```
/// +--------+--------+-----------------------------------+-----------------------------+=============+
/// |  kind  | stream |   payload length (UInt32, BE)     | channel id (UInt32, BE)     |   payload   |
/// +--------+--------+-----------------------------------+-----------------------------+=============+
///   1 byte   1 byte              4 bytes                  4 bytes, channel form only     length bytes
/// ```
///
/// The decoder is a small read-state machine: it parses and validates a header once, then waits for exactly
/// that many payload bytes without consuming a partial frame. It does no I/O and can be driven by
/// `ByteToMessageHandler` or directly with `NIOSingleStepByteToMessageProcessor`.
///
/// In the handshake form (`hello` and `welcome`, in every version) it checks the kind, a control frame's stream
/// and the length against ``FrameLimits`` once the six header bytes are in. In the channel form it runs every
/// header check at the byte that decides it — the kind after one byte,
/// the stream after two, the length after six, the channel after ten — before any payload is buffered.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    private struct Header {
        var kind: Frame.Kind
        var stream: Frame.Stream
        var length: Int
        var channel: UInt32
    }

    private enum State {
        case waitingForHeader
        case waitingForPayload(Header)
    }

    private var state: State = .waitingForHeader
    private let limits: FrameLimits
    /// The header form of the next frame. Change it only between frames: after a frame has been returned and
    /// before the next byte is decoded (a connection switches to ``FrameForm/channels`` after `welcome`).
    public var form: FrameForm

    /// Creates a decoder enforcing `limits` on frames of `form`.
    public init(limits: FrameLimits = FrameLimits(), form: FrameForm = .handshake) {
        self.limits = limits
        self.form = form
    }

    /// Decodes the next frame, or returns `nil` without consuming anything past a complete header.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badFrame``, ``ProtocolError/Code/frameTooLarge`` or
    ///   (channel form) ``ProtocolError/Code/badChannel``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        if case .waitingForHeader = state {
            let read =
                switch form {
                case .handshake: try readHandshakeHeader(from: &buffer)
                case .channels: try readChannelHeader(from: &buffer)
                }
            guard let header = read else { return nil }
            state = .waitingForPayload(header)
        }
        guard case .waitingForPayload(let header) = state,
            let payload = buffer.readSlice(length: header.length)
        else { return nil }
        state = .waitingForHeader
        let frame = Frame(kind: header.kind, stream: header.stream, payload: payload, channel: header.channel)
        if frame.kind == .window, frame.windowCredit == 0 {
            throw ProtocolError(
                .badFrame, "window frame of 0 bytes on channel \(frame.channel); a window adds 1 or more")
        }
        return frame
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

    private func readHandshakeHeader(from buffer: inout ByteBuffer) throws(ProtocolError) -> Header? {
        guard
            let (rawKind, rawStream, rawLength) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt8, UInt8, UInt32).self
            )
        else { return nil }
        guard let kind = Frame.Kind(rawValue: rawKind), kind == .control || kind == .data else {
            throw Self.unknownKind(rawKind)
        }
        if kind == .control, rawStream != 0 {
            throw ProtocolError(.badFrame, "control frame on stream \(rawStream); control frames use stream 0")
        }
        let length = try checkedLength(rawLength, of: kind)
        buffer.moveReaderIndex(forwardBy: Frame.headerLength)
        return Header(kind: kind, stream: Frame.Stream(rawValue: rawStream), length: length, channel: 0)
    }

    private func readChannelHeader(from buffer: inout ByteBuffer) throws(ProtocolError) -> Header? {
        let start = buffer.readerIndex
        guard let rawKind = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        guard let kind = Frame.Kind(rawValue: rawKind) else { throw Self.unknownKind(rawKind) }
        guard let rawStream = buffer.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        if kind != .data, rawStream != 0 {
            throw ProtocolError(.badFrame, "\(kind) frame on stream \(rawStream); only data frames have streams")
        }
        guard let rawLength = buffer.getInteger(at: start + 2, as: UInt32.self) else { return nil }
        let length = try checkedLength(rawLength, of: kind)
        try Self.checkFixedLength(length, of: kind)
        guard let channel = buffer.getInteger(at: start + 6, as: UInt32.self) else { return nil }
        if kind != .control, channel == 0 {
            throw ProtocolError(.badFrame, "\(kind) frame on channel 0; channel 0 carries only control frames")
        }
        if channel >= Frame.firstReservedChannel {
            throw ProtocolError(
                .badChannel, "frame on channel \(channel); channel ids from 0x80000000 up are reserved")
        }
        buffer.moveReaderIndex(forwardBy: Frame.channelHeaderLength)
        return Header(kind: kind, stream: Frame.Stream(rawValue: rawStream), length: length, channel: channel)
    }

    /// The declared length, if it is within the limit for `kind`.
    private func checkedLength(_ rawLength: UInt32, of kind: Frame.Kind) throws(ProtocolError) -> Int {
        let length = Int(rawLength)
        guard kind == .control || kind == .data else { return length }
        let limit = limits.maxPayload(for: kind)
        guard length <= limit else {
            throw ProtocolError(
                .frameTooLarge,
                "\(kind) frame of \(length) bytes exceeds the limit of \(limit) bytes"
            )
        }
        return length
    }

    /// The channel form's length rules: no empty control or data payload, and the fixed lengths of window, eof
    /// and close.
    private static func checkFixedLength(_ length: Int, of kind: Frame.Kind) throws(ProtocolError) {
        switch kind {
        case .control, .data:
            guard length > 0 else {
                throw ProtocolError(.badFrame, "empty \(kind) frame; every \(kind) frame carries at least one byte")
            }
        case .window, .eof, .close:
            let expected = FrameLimits().maxPayload(for: kind)
            guard length == expected else {
                throw ProtocolError(.badFrame, "\(kind) frame of \(length) bytes; it must have \(expected)")
            }
        }
    }

    private static func unknownKind(_ rawKind: UInt8) -> ProtocolError {
        ProtocolError(.badFrame, "unknown frame kind 0x\(String(rawKind, radix: 16)); is this a Porter client?")
    }
}
