import NIOCore

/// One unit of Porter's wire protocol.
///
/// Every frame starts with a six-byte header; in the channel form (``FrameForm/channels``, protocol version 2
/// after `welcome`) the channel id follows it:
///
/// ```
///  0        1        2                                   6                                   10
/// +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+=========+
/// |  kind  | stream |  payload length, UInt32 big-endian |  channel id, UInt32 (channels form) | payload |
/// +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+=========+
/// ```
///
/// - `kind` `0x01` (control): the payload is one UTF-8 JSON object, a ``ControlMessage`` (version 1), a
///   ``ConnectionMessage`` (channel 0) or a ``ChannelMessage``; `stream` is 0.
/// - `kind` `0x02` (data): the payload is raw bytes belonging to the operation in progress; `stream`
///   says which byte stream they belong to (see ``Frame/Stream``).
/// - `kind` `0x03` (window), `0x04` (eof), `0x05` (close): channel form only, on a channel from 1 up: 4 bytes
///   of credit, or nothing.
///
/// The header is checked against ``FrameLimits`` and the rules of its form as soon as it is read, before any
/// payload byte is buffered.
public struct Frame: Sendable, Equatable {
    /// The number of bytes in a frame header of the handshake form (``FrameForm/handshake``).
    public static let headerLength = 6
    /// The number of bytes in a frame header of the channel form (``FrameForm/channels``).
    public static let channelHeaderLength = 10
    /// The first channel id reserved for channels a server opens (none in version 2): ids from here up are refused.
    public static let firstReservedChannel: UInt32 = 0x8000_0000

    /// What a frame's payload holds.
    public enum Kind: UInt8, Sendable {
        /// A JSON control message.
        case control = 0x01
        /// Raw bytes of a stream.
        case data = 0x02
        /// Channel form: credit for the receiver's data on the channel, a UInt32 of 1 to 2^32−1.
        case window = 0x03
        /// Channel form: the sender sends no more data on the channel.
        case eof = 0x04
        /// Channel form: the sender sends nothing more on the channel.
        case close = 0x05
    }

    /// Which byte stream a data frame belongs to. Streams are numbered like file descriptors.
    public struct Stream: RawRepresentable, Hashable, Sendable {
        /// The stream number on the wire.
        public var rawValue: UInt8
        /// Creates a stream from its wire number.
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// The main stream: echo bytes, file contents, a command's standard input.
        public static let main = Stream(rawValue: 0)
        /// A command's standard output.
        public static let output = Stream(rawValue: 1)
        /// A command's standard error.
        public static let error = Stream(rawValue: 2)
    }

    /// What the payload holds.
    public var kind: Kind
    /// The stream of a data frame; always ``Stream/main`` for control frames.
    public var stream: Stream
    /// The payload bytes.
    public var payload: ByteBuffer
    /// The channel, in the channel form: 0 is the connection, 1 to 0x7FFFFFFF the client's channels. Always 0 in
    /// the handshake form, which has no channel id.
    public var channel: UInt32

    /// Creates a frame.
    public init(kind: Kind, stream: Stream = .main, payload: ByteBuffer, channel: UInt32 = 0) {
        self.kind = kind
        self.stream = stream
        self.payload = payload
        self.channel = channel
    }

    /// A data frame carrying `payload` on `stream`.
    public static func data(_ payload: ByteBuffer, stream: Stream = .main, channel: UInt32 = 0) -> Frame {
        Frame(kind: .data, stream: stream, payload: payload, channel: channel)
    }

    /// A window frame granting `credit` more bytes of data on `channel`.
    public static func window(_ credit: UInt32, channel: UInt32) -> Frame {
        var payload = ByteBuffer()
        payload.writeInteger(credit)
        return Frame(kind: .window, payload: payload, channel: channel)
    }

    /// An eof frame: no more data on `channel` from its sender.
    public static func eof(channel: UInt32) -> Frame {
        Frame(kind: .eof, payload: ByteBuffer(), channel: channel)
    }

    /// A close frame: nothing more on `channel` from its sender.
    public static func close(channel: UInt32) -> Frame {
        Frame(kind: .close, payload: ByteBuffer(), channel: channel)
    }

    /// The credit a window frame grants; `nil` for other kinds or a payload that is not 4 bytes.
    public var windowCredit: UInt32? {
        guard kind == .window, payload.readableBytes == 4 else { return nil }
        return payload.getInteger(at: payload.readerIndex, as: UInt32.self)
    }
}
