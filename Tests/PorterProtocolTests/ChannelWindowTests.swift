import NIOCore
import PorterProtocol
import Testing

/// The credit of one direction of a channel, on both sides (docs/design/protocol-2.md section 5.2).
@Suite struct ChannelWindowTests {
    /// The code of the error `body` throws; `nil` if it throws none.
    func errorCode(_ body: () throws -> Void) -> ProtocolError.Code? {
        do {
            try body()
            return nil
        } catch {
            return (error as? ProtocolError)?.code
        }
    }

    @Test func grantsAtExactlyHalfAndNotOneByteBefore() throws {
        var window = InboundWindow(window: 100)
        try window.received(51)
        // credit 49 + held 51 = 100: no grant while nothing is consumed.
        #expect(window.consumed(0) == nil)
        // Consuming 1 leaves credit 49 + held 50 = 99 > 50: none.
        #expect(window.consumed(1) == nil)
        #expect(window.consumed(48) == nil)  // 49 + 2 = 51: one byte before half
        #expect(window.consumed(1) == 50)  // 49 + 1 = 50 = W / 2: grant W − 50
        #expect(window.credit == 99)
        #expect(window.held == 1)
        #expect(window.consumed(1) == nil)  // 99 + 0 = 99
        #expect(window.credit == 99)
    }

    @Test func halfOfAnOddWindowRoundsDown() throws {
        var window = InboundWindow(window: 7)  // W / 2 = 3
        try window.received(4)
        #expect(window.consumed(1) == nil)  // 3 + 3 = 6
        #expect(window.consumed(3) == 4)  // 3 + 0 = 3
        #expect(window.credit == 7)
        #expect(window.held == 0)
    }

    @Test func grantsWhatWasUsedWhenAllIsConsumed() throws {
        var window = InboundWindow(window: 262_144)
        try window.received(262_144)
        #expect(window.credit == 0)
        #expect(window.consumed(131_071) == nil)  // held 131,073 > 131,072
        #expect(window.consumed(1) == 131_072)
        #expect(window.credit == 131_072)
    }

    @Test func dataBeyondCreditIsFlowControl() throws {
        var window = InboundWindow(window: 10)
        try window.received(6)
        #expect(errorCode { try window.received(5) } == .flowControl)
        #expect(window.credit == 4)
        #expect(window.held == 6)
        try window.received(4)
        #expect(window.credit == 0)
    }

    @Test func aWindowOfZeroTakesNoDataAndGrantsNothing() {
        var window = InboundWindow(window: 0)
        #expect(errorCode { try window.received(1) } == .flowControl)
        #expect(window.consumed(0) == nil)
    }

    @Test func creditAddsUpToTheLargestAndNotAByteMore() throws {
        var credit = OutboundCredit(credit: 10)
        try credit.granted(UInt32.max - 11)
        #expect(credit.credit == UInt32.max - 1)
        try credit.granted(1)
        #expect(credit.credit == UInt32.max)
        #expect(errorCode { try credit.granted(1) } == .flowControl)
        #expect(credit.credit == UInt32.max)
    }

    @Test func aWriteIsCutToCreditAndThePeersLimit() {
        var credit = OutboundCredit(credit: 10)
        var pending = ByteBuffer(bytes: Array(0..<25))
        let first = credit.take(from: &pending, maxDataPayload: 4)
        #expect(first == ByteBuffer(bytes: [0, 1, 2, 3]))
        let second = credit.take(from: &pending, maxDataPayload: 4)
        #expect(second == ByteBuffer(bytes: [4, 5, 6, 7]))
        let third = credit.take(from: &pending, maxDataPayload: 4)
        #expect(third == ByteBuffer(bytes: [8, 9]))  // the credit's last 2 bytes
        #expect(credit.credit == 0)
        #expect(credit.take(from: &pending, maxDataPayload: 4) == nil)
        #expect(pending.readableBytes == 15)  // waits for credit
        #expect(credit.nextFrameLength(pending: 15, maxDataPayload: 4) == 0)
    }
}
