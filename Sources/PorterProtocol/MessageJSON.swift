import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Decoding and encoding of control payloads, shared by every message type, and the integer rules.
///
/// Every integer member is read only in integer form — digits, no fraction, no exponent (`1048576`, never
/// `1048576.0` or `1.048576e6`) — and only within ±(2^53−1), so that a reader holding JSON numbers as doubles reads
/// each exactly. `JSONDecoder` accepts `1.0` or `1e3` for an integer and any magnitude its type holds, so the
/// payload's bytes are scanned for the number tokens themselves (``checkIntegers(in:integerMembers:)``).
enum MessageJSON {
    /// The largest magnitude of a JSON integer: 2^53−1.
    static let maxInteger: UInt64 = (1 << 53) - 1

    /// The key of `JSONDecoder.userInfo` under which a channel's service travels to ``ChannelMessage``'s decoder.
    static let serviceKey = CodingUserInfoKey(rawValue: "porter.channel-service")!

    /// Decodes `payload` as `Message`, turning every decoding failure into a one-line `bad-message`.
    static func decode<Message: Decodable>(
        _ type: Message.Type, from payload: ByteBuffer, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws(ProtocolError) -> Message {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo = userInfo
            return try decoder.decode(Message.self, from: Data(payload.readableBytesView))
        } catch let error as ProtocolError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw ProtocolError(.badMessage, "control message is missing the field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw ProtocolError(.badMessage, "control message has a wrong value at '\(context.path)'")
        } catch let DecodingError.valueNotFound(_, context) where !context.codingPath.isEmpty {
            throw ProtocolError(.badMessage, "control message has a wrong value at '\(context.path)'")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw ProtocolError(.badMessage, "control message has a wrong value at '\(context.path)'")
        } catch DecodingError.typeMismatch {
            throw ProtocolError(.badMessage, "a control message must be a JSON object")
        } catch {
            // The decoder says no more than "not valid JSON" both for a syntax error and for a number its field
            // cannot hold (a fraction, or beyond the integer's range).
            throw ProtocolError(
                .badMessage, "control frame is not valid JSON, or a number in it does not fit its field")
        }
    }

    /// `message` as Porter writes it: compact, `/` unescaped, members sorted by name so that one message always
    /// has one encoding (receivers take members in any order).
    static func encode(_ message: some Encodable, with encoder: JSONEncoder = makeEncoder()) -> ByteBuffer {
        // Every payload type encodes plain strings, numbers, booleans, arrays and objects: encoding cannot fail.
        let data = (try? encoder.encode(message)) ?? Data()
        return ByteBuffer(bytes: data)
    }

    /// The encoder of ``encode(_:with:)``.
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    /// The members that hold integers (docs/PROTOCOL.md section 3.3); every other number member is a duration.
    static let integerMembers: Set<String> = [
        "versions", "version", "id", "window", "rows", "cols", "pid", "status", "signalNumber", "size", "offset",
        "mode", "seconds", "nanoseconds", "skipped", "port", "originPort", "maxControlPayload", "maxDataPayload",
        "maxChannels", "initialWindow", "maxWindow", "maxGlobalRequests",
    ]

    /// Checks every number token of `payload`, which has already decoded as JSON: each written without fraction
    /// or exponent lies within ±``maxInteger``, and each under one of `integerMembers` (the member it is the value
    /// of, or whose array holds it) is written without fraction or exponent.
    static func checkIntegers(in payload: ByteBuffer, integerMembers: Set<String> = integerMembers)
        throws(ProtocolError)
    {
        let bytes = Array(payload.readableBytesView)
        // For each open object or array: the member it is the value of (an array's numbers belong to it), and for
        // an object the member whose value comes next.
        var containers: [(isObject: Bool, member: String?)] = []
        var expectingKey = false
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                containers.append((true, nil))
                expectingKey = true
                index += 1
            case UInt8(ascii: "["):
                containers.append((false, containers.last?.member))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                containers.removeLast()
                index += 1
            case UInt8(ascii: ","):
                expectingKey = containers.last?.isObject ?? false
                index += 1
            case UInt8(ascii: "\""):
                let end = endOfString(bytes, from: index)
                if expectingKey, !containers.isEmpty {
                    containers[containers.count - 1].member = keyText(bytes[index..<end])
                    expectingKey = false
                }
                index = end
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var end = index + 1
                while end < bytes.count, isNumberByte(bytes[end]) { end += 1 }
                try checkNumber(bytes[index..<end], member: containers.last?.member, integerMembers: integerMembers)
                index = end
            default:
                index += 1
            }
        }
    }

    private static func checkNumber(
        _ token: ArraySlice<UInt8>, member: String?, integerMembers: Set<String>
    ) throws(ProtocolError) {
        let name = member ?? "?"
        let digits = token.drop { $0 == UInt8(ascii: "-") }
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            if let member, integerMembers.contains(member) {
                throw ProtocolError(
                    .badMessage, "'\(name)' must be an integer written without fraction or exponent")
            }
            return
        }
        var value: UInt64 = 0
        for digit in digits {
            value = value * 10 + UInt64(digit - UInt8(ascii: "0"))
            guard value <= maxInteger else {
                throw ProtocolError(
                    .badMessage, "'\(name)' is beyond ±9007199254740991 (2^53−1), the range of every JSON integer")
            }
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            true
        default: false
        }
    }

    /// The index after the closing quote of the string that starts at `start`.
    private static func endOfString(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return index
    }

    /// A member name, its escapes (`"\u0069d"` is `id`) resolved.
    private static func keyText(_ quoted: ArraySlice<UInt8>) -> String {
        let inner = quoted.dropFirst().dropLast()
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        let array = Data([UInt8(ascii: "[")] + quoted + [UInt8(ascii: "]")])
        return (try? JSONDecoder().decode([String].self, from: array))?.first ?? ""
    }
}

extension DecodingError.Context {
    /// The coding path as a person writes it: `pty.rows`, `entries.3.size`.
    fileprivate var path: String {
        codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}
