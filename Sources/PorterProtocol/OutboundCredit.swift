import NIOCore

/// The sender's side of one direction of a channel: the credit the peer granted, and how a write is cut into data
/// frames (docs/PROTOCOL.md section 5.2; swift-nio-ssh's `OutboundFlowController`).
///
/// The credit starts at the `window` of the peer's `open` or `accept` and grows with its window frames, never above
/// 2^32−1; each data frame sent uses its length. A write is cut into frames of at most `min(credit, peer's
/// maxDataPayload)` bytes; what does not fit waits with the caller until credit arrives.
public struct OutboundCredit: Sendable, Equatable {
    /// The most credit a sender can hold: 2^32−1 bytes.
    public static let maxCredit = UInt32.max

    /// The bytes this side may still send.
    public private(set) var credit: UInt32

    /// Credit of `credit` bytes, the window the peer granted first.
    public init(credit: UInt32) {
        self.credit = credit
    }

    /// A window frame granted `increment` more bytes.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/flowControl`` when the total would exceed
    ///   ``maxCredit``; nothing changes.
    public mutating func granted(_ increment: UInt32) throws(ProtocolError) {
        let (total, overflow) = credit.addingReportingOverflow(increment)
        guard !overflow else {
            throw ProtocolError(
                .flowControl,
                "the peer granted \(increment) bytes of credit on a channel holding \(credit): more than 2^32−1")
        }
        credit = total
    }

    /// The length of the next data frame for `pending` bytes to send: `min(pending, credit, maxDataPayload)`.
    public func nextFrameLength(pending: Int, maxDataPayload: Int) -> Int {
        min(pending, Int(credit), maxDataPayload)
    }

    /// Takes the next data frame's payload from the front of `pending` and uses its credit; `nil` (and `pending`
    /// unchanged) when there is nothing to send or no credit. The rest stays in `pending`.
    ///
    /// - Parameter maxDataPayload: the peer's `maxDataPayload`, at least 1.
    public mutating func take(from pending: inout ByteBuffer, maxDataPayload: Int) -> ByteBuffer? {
        let length = nextFrameLength(pending: pending.readableBytes, maxDataPayload: maxDataPayload)
        guard length > 0, let payload = pending.readSlice(length: length) else { return nil }
        credit -= UInt32(length)
        return payload
    }
}
