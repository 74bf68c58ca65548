import NIOCore
import PorterProtocol
import Testing

/// The frames of docs/design/protocol-2.md section 10.1, as hex.
enum FrameVectors {
    /// A frame that decodes, with what it decodes to.
    struct Accepted: Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var form: FrameForm
        var kind: Frame.Kind
        var stream: UInt8
        var channel: UInt32
        var payload: [UInt8]
        var testDescription: String { name }
    }

    /// A frame header that is refused, with the code and the number of bytes after which it is refused.
    struct Rejected: Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var code: ProtocolError.Code
        var decidedAfter: Int
        var testDescription: String { name }
    }

    static let ping = Array(#"{"type":"ping","id":7}"#.utf8)
    static let hello = Array(
        #"{"type":"hello","versions":[2],"agent":"porter/0.2.0","nonce":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","limits":{"maxControlPayload":65536,"maxDataPayload":1048576}}"#
            .utf8)

    static let accepted: [Accepted] = [
        Accepted(
            name: "handshake form, hello of 171 bytes", hex: "01 00 00 00 00 ab" + hex(hello), form: .handshake,
            kind: .control, stream: 0, channel: 0, payload: hello),
        Accepted(
            name: "control on channel 0", hex: "01 00 00 00 00 16 00 00 00 00" + hex(ping), form: .channels,
            kind: .control, stream: 0, channel: 0, payload: ping),
        Accepted(
            name: "data, channel 1, stream 0", hex: "02 00 00 00 00 03 00 00 00 01 68 69 0a", form: .channels,
            kind: .data, stream: 0, channel: 1, payload: Array("hi\n".utf8)),
        Accepted(
            name: "data, channel 1, stream 2", hex: "02 02 00 00 00 05 00 00 00 01 64 6f 6e 65 0a", form: .channels,
            kind: .data, stream: 2, channel: 1, payload: Array("done\n".utf8)),
        Accepted(
            name: "window, channel 1, credit 524288", hex: "03 00 00 00 00 04 00 00 00 01 00 08 00 00",
            form: .channels, kind: .window, stream: 0, channel: 1, payload: [0, 8, 0, 0]),
        Accepted(
            name: "eof, channel 1", hex: "04 00 00 00 00 00 00 00 00 01", form: .channels, kind: .eof, stream: 0,
            channel: 1, payload: []),
        Accepted(
            name: "close, channel 1", hex: "05 00 00 00 00 00 00 00 00 01", form: .channels, kind: .close,
            stream: 0, channel: 1, payload: []),
    ]

    static let rejected: [Rejected] = [
        Rejected(name: "unknown kind", hex: "06 00 00 00 00 00 00 00 00 01", code: .badFrame, decidedAfter: 1),
        Rejected(name: "control on stream 1", hex: "01 01 00 00 00 16 00 00 00 00", code: .badFrame, decidedAfter: 2),
        Rejected(name: "empty data", hex: "02 00 00 00 00 00 00 00 00 01", code: .badFrame, decidedAfter: 6),
        Rejected(
            name: "window of 3 bytes", hex: "03 00 00 00 00 03 00 00 00 01 00 00 01", code: .badFrame, decidedAfter: 6),
        Rejected(
            name: "window 0", hex: "03 00 00 00 00 04 00 00 00 01 00 00 00 00", code: .badFrame, decidedAfter: 14),
        Rejected(name: "eof on channel 0", hex: "04 00 00 00 00 00 00 00 00 00", code: .badFrame, decidedAfter: 10),
        Rejected(name: "reserved channel", hex: "05 00 00 00 00 00 80 00 00 00", code: .badChannel, decidedAfter: 10),
        Rejected(
            name: "data over the default 1 MiB limit", hex: "02 00 00 10 00 01", code: .frameTooLarge, decidedAfter: 6),
    ]

    /// `bytes` as lowercase hex, a space before each byte.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { " " + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The bytes of hex text, spaces ignored.
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8.filter { $0 != UInt8(ascii: " ") })
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }
}
