import NIOCore

/// Porter's UDP echo datagrams.
///
/// A request is `PUE1`, a 64-bit request id (big-endian) and the payload; the reply carries the same twelve
/// bytes and the payload with ASCII letters upper-cased. The id lets a client that retries tell the reply to
/// its current try from a late reply to an earlier one. A datagram without the `PUE1` prefix is answered
/// upper-cased as a whole, as the course's UDP echo does.
public enum UDPEchoDatagram {
    /// The first four bytes of a request and of its reply.
    public static let magic: [UInt8] = Array("PUE1".utf8)
    /// Magic and request id.
    public static let headerLength = 12
    /// The largest datagram a server answers and a client sends, header included: bigger ones are refused
    /// before sending and dropped on receipt, so a reply is never larger than its request.
    public static let maxLength = 8192
    /// The largest payload that fits a request.
    public static let maxPayload = maxLength - headerLength

    /// The request datagram for `payload` with `id`.
    public static func request(id: UInt64, payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: magic)
        buffer.writeInteger(id)
        buffer.writeBytes(payload)
        return buffer
    }

    /// The server's answer to `datagram`, or `nil` to drop it (over ``maxLength``). With `headers` false every
    /// datagram is answered upper-cased as a whole (the classic listener).
    public static func reply(to datagram: ByteBuffer, headers: Bool = true) -> ByteBuffer? {
        guard datagram.readableBytes <= maxLength else { return nil }
        var reply = datagram
        if headers, datagram.readableBytes >= headerLength,
            datagram.getBytes(at: datagram.readerIndex, length: magic.count) == magic
        {
            var payload = reply.getSlice(
                at: reply.readerIndex + headerLength, length: reply.readableBytes - headerLength)!
            EchoTransform.uppercaseASCII(&payload)
            var answer = reply.getSlice(at: reply.readerIndex, length: headerLength)!
            answer.writeBuffer(&payload)
            return answer
        }
        EchoTransform.uppercaseASCII(&reply)
        return reply
    }

    /// The id and payload of a reply, or `nil` if `datagram` is not one.
    public static func parseReply(_ datagram: ByteBuffer) -> (id: UInt64, payload: ByteBuffer)? {
        var datagram = datagram
        guard datagram.readableBytes >= headerLength, datagram.readBytes(length: magic.count) == magic,
            let id = datagram.readInteger(as: UInt64.self)
        else { return nil }
        return (id, datagram)
    }
}
