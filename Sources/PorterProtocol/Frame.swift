import NIOCore

/// One unit of Porter's wire protocol.
///
/// Every frame starts with a six-byte header:
///
/// ```
///  0        1        2                                   6
/// +--------+--------+--------+--------+--------+--------+=============+
/// |  kind  | stream |   payload length, UInt32 big-endian |   payload   |
/// +--------+--------+--------+--------+--------+--------+=============+
/// ```
///
/// - `kind` `0x01` (control): the payload is one UTF-8 JSON object, a ``ControlMessage``; `stream` is 0.
/// - `kind` `0x02` (data): the payload is raw bytes belonging to the operation in progress; `stream`
///   says which byte stream they belong to (see ``Frame/Stream``).
///
/// The payload length is checked against ``FrameLimits`` as soon as the header is read, before any
/// payload byte is buffered.
public struct Frame: Sendable, Equatable {
    /// The number of bytes in a frame header.
    public static let headerLength = 6

    /// What a frame's payload holds.
    public enum Kind: UInt8, Sendable {
        /// A JSON control message.
        case control = 0x01
        /// Raw bytes of a stream.
        case data = 0x02
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

    /// Creates a frame.
    public init(kind: Kind, stream: Stream = .main, payload: ByteBuffer) {
        self.kind = kind
        self.stream = stream
        self.payload = payload
    }

    /// A data frame carrying `payload` on `stream`.
    public static func data(_ payload: ByteBuffer, stream: Stream = .main) -> Frame {
        Frame(kind: .data, stream: stream, payload: payload)
    }
}
