import NIOCore
import NIOEmbedded
import PorterProtocol
import Testing

@testable import Porter

/// A protocol 2 child channel on its own: an `EmbeddedChannel` as the connection and a recording multiplexer.
@Suite(.timeLimit(.minutes(1))) struct PorterChildChannelTests {
    private let connection = EmbeddedChannel()
    private let parent: RecordingChildParent
    private let child: PorterChildChannel
    private let recorder = ChildChannelRecorder()
    private let id: UInt32 = 7

    init() throws {
        parent = RecordingChildParent(credit: 100)
        child = PorterChildChannel(id: id, parent: connection, multiplexer: parent)
        try child.pipeline.syncOperations.addHandler(recorder)
    }

    private func data(_ text: String, on stream: Frame.Stream = .main) -> ChannelContent {
        .data(stream, ByteBuffer(string: text))
    }

    private let done = ChannelContent.message(.done(.empty))

    private func write(_ content: ChannelContent) -> FutureOutcome {
        FutureOutcome(child.write(content))
    }

    private func set<Option: ChannelOption>(_ option: Option, _ value: Option.Value) throws {
        try #require(child.syncOptions).setOption(option, value: value)
    }

    /// Grants the child (and the recording multiplexer) `credit` bytes in all.
    private func grant(_ credit: Int) {
        parent.credit = credit
        child.creditChanged(UInt32(credit))
    }

    // MARK: Reads

    @Test func withAutoReadOffNothingIsDeliveredOrConsumedUntilRead() throws {
        try set(ChannelOptions.autoRead, false)
        child.activate(credit: 100)
        child.receive(data("hello"))
        child.receive(done)
        child.receive(data("abc", on: .output))
        #expect(recorder.events == [.active])
        #expect(parent.consumed.isEmpty)

        child.read()
        #expect(
            recorder.events == [
                .active, .read(data("hello")), .read(done), .read(data("abc", on: .output)), .readComplete,
            ])
        #expect(parent.consumed == [5, 3])

        child.receive(data("later"))
        #expect(recorder.events.count == 5)
        #expect(parent.consumed == [5, 3])
        child.read()
        #expect(recorder.events.suffix(2) == [.read(data("later")), .readComplete])
        #expect(parent.consumed == [5, 3, 5])
        #expect(parent.channelIDs == [id])
    }

    @Test func withAutoReadOnEverythingIsDeliveredAsItArrives() {
        child.activate(credit: 100)
        child.receive(data("one"))
        child.receive(done)
        child.receive(data("three"))
        #expect(
            recorder.events == [
                .active, .read(data("one")), .readComplete, .read(done), .readComplete, .read(data("three")),
                .readComplete,
            ]
        )
        #expect(parent.consumed == [3, 5])
    }

    @Test func whatArrivesBeforeActivationWaitsForIt() {
        child.read()
        child.receive(data("early"))
        #expect(recorder.events.isEmpty)
        child.activate(credit: 100)
        #expect(recorder.events == [.active, .read(data("early")), .readComplete])
        #expect(parent.consumed == [5])
    }

    @Test func turningAutoReadBackOnDeliversWhatWaits() throws {
        try set(ChannelOptions.autoRead, false)
        child.activate(credit: 100)
        child.receive(data("held"))
        #expect(recorder.events == [.active])
        try set(ChannelOptions.autoRead, true)
        #expect(recorder.events == [.active, .read(data("held")), .readComplete])
    }

    @Test func withReportedConsumptionOnlyWhatTheHandlerReportsIsConsumed() throws {
        try set(PorterChildChannel.ConsumptionOption(), .reported)
        #expect(try #require(child.syncOptions).getOption(PorterChildChannel.ConsumptionOption()) == .reported)
        child.activate(credit: 100)
        child.receive(data("hello"))
        child.receive(data("abc"))
        #expect(recorder.events.contains(.read(data("abc"))))
        #expect(parent.consumed.isEmpty, "delivered is not consumed")

        #expect(FutureOutcome(child.triggerUserOutboundEvent(PorterChildChannel.Consumed(bytes: 5))).succeeded)
        #expect(parent.consumed == [5])
        // More than was delivered counts only what was.
        child.triggerUserOutboundEvent(PorterChildChannel.Consumed(bytes: 50), promise: nil)
        #expect(parent.consumed == [5, 3])
        child.triggerUserOutboundEvent(PorterChildChannel.Consumed(bytes: 1), promise: nil)
        #expect(parent.consumed == [5, 3])

        // Back to consumption on delivery: what was delivered and not reported counts at once.
        child.receive(data("four"))
        try set(PorterChildChannel.ConsumptionOption(), .onDelivery)
        #expect(parent.consumed == [5, 3, 4])
        child.receive(data("xy"))
        #expect(parent.consumed == [5, 3, 4, 2])
    }

    @Test func consumptionReportedAfterTheCloseRenewsNoCredit() throws {
        try set(PorterChildChannel.ConsumptionOption(), .reported)
        child.activate(credit: 100)
        child.receive(data("hello"))
        child.close(promise: nil)
        child.triggerUserOutboundEvent(PorterChildChannel.Consumed(bytes: 5), promise: nil)
        #expect(parent.consumed.isEmpty)
    }

    @Test func messagesBeyondTheHeldLimitAreDeliveredThenTheChannelCloses() throws {
        try set(ChannelOptions.autoRead, false)
        try set(PorterChildChannel.MaxHeldMessagesOption(), 2)
        child.activate(credit: 100)
        child.receive(done)
        child.receive(data("bytes"))
        child.receive(done)
        #expect(recorder.events == [.active], "two messages and data wait within the limit")
        child.receive(done)
        let error = String(describing: PorterChildChannel.TooManyHeldMessages(limit: 2))
        #expect(
            recorder.events == [
                .active, .read(done), .read(data("bytes")), .read(done), .readComplete, .error(error), .inactive,
            ])
        #expect(parent.closes == 1)
    }

    // MARK: Writes and credit

    @Test func writesBeyondCreditWaitForItInOrder() {
        parent.credit = 4
        child.activate(credit: 4)
        let bytes = write(data("0123456789"))
        let message = write(done)
        #expect(parent.events.isEmpty)  // not flushed yet

        child.flush()
        #expect(parent.events == [.data(.main, "0123"), .flush])
        #expect(bytes.isPending)
        #expect(message.isPending)

        grant(4)
        #expect(parent.events.suffix(2) == [.data(.main, "4567"), .flush])
        #expect(bytes.isPending)
        #expect(message.isPending)

        grant(10)
        #expect(parent.events.suffix(3) == [.data(.main, "89"), .message(.done(.empty)), .flush])
        #expect(bytes.succeeded)
        #expect(message.succeeded)
        #expect(parent.channelIDs == [id])
    }

    @Test func writabilityFollowsCreditAndTheConnection() {
        parent.credit = 10
        child.activate(credit: 10)
        #expect(child.isWritable)
        _ = write(data("012345"))
        #expect(child.isWritable)
        _ = write(data("6789"))
        #expect(!child.isWritable)
        #expect(recorder.writability == [false])

        child.flush()  // all 10 handed on: nothing queued, but no credit either
        #expect(!child.isWritable)
        #expect(recorder.writability == [false])

        grant(5)
        #expect(child.isWritable)
        child.parentWritabilityChanged(false)
        #expect(!child.isWritable)
        child.parentWritabilityChanged(false)
        grant(6)
        #expect(!child.isWritable)
        child.parentWritabilityChanged(true)
        #expect(child.isWritable)
        #expect(recorder.writability == [false, true, false, true])
    }

    @Test func noCreditMeansNotWritableOnceActive() {
        #expect(child.isWritable)
        child.activate(credit: 0)
        #expect(!child.isWritable)
        #expect(recorder.events == [.active, .writable(false)])
    }

    @Test func writesBeforeActivationWaitForIt() {
        let message = write(done)
        let bytes = write(data("flushed"))
        child.flush()
        let unflushed = write(data("later"))
        #expect(parent.events.isEmpty)
        #expect(message.isPending)

        child.activate(credit: 100)
        #expect(parent.events == [.message(.done(.empty)), .data(.main, "flushed"), .flush])
        #expect(message.succeeded)
        #expect(bytes.succeeded)
        #expect(unflushed.isPending)

        child.flush()
        #expect(parent.events.suffix(2) == [.data(.main, "later"), .flush])
        #expect(unflushed.succeeded)
    }

    @Test func refusedWritesFail() {
        child.activate(credit: 100)
        parent.refusal = .notAllowed
        let message = write(done)
        child.flush()
        #expect((message.error as? ChannelStateMachine.Refusal) == .notAllowed)

        parent.refusal = .outputClosed
        let bytes = write(data("x"))
        child.flush()
        #expect(bytes.failed(with: .outputClosed))

        parent.refusal = .closed
        let afterClose = write(data("y"))
        child.flush()
        #expect(afterClose.failed(with: .ioOnClosedChannel))
        #expect(parent.events.allSatisfy { $0 == .flush })
    }

    // MARK: The peer's eof

    @Test func eofWithHalfClosureIsInputClosedAfterTheBufferedData() throws {
        try set(ChannelOptions.autoRead, false)
        try set(ChannelOptions.allowRemoteHalfClosure, true)
        child.activate(credit: 100)
        child.receive(data("last"))
        child.receiveEOF()
        #expect(recorder.events == [.active])

        child.read()
        #expect(recorder.events == [.active, .read(data("last")), .inputClosed, .readComplete])
        #expect(child.isActive)
        #expect(parent.closes == 0)
    }

    @Test func eofWithoutHalfClosureClosesAfterTheBufferedData() throws {
        try set(ChannelOptions.autoRead, false)
        child.activate(credit: 100)
        child.receive(data("last"))
        child.receiveEOF()
        #expect(parent.events.isEmpty)

        child.read()
        #expect(recorder.events == [.active, .read(data("last")), .readComplete, .inactive])
        #expect(parent.events == [.close, .flush])
        #expect(!child.isActive)
    }

    // MARK: This side's eof and close

    @Test func closingOutputWaitsForHeldWritesThenSendsEOF() {
        parent.credit = 4
        child.activate(credit: 4)
        let bytes = write(data("012345"))
        child.flush()
        let eof = FutureOutcome(child.close(mode: .output))
        #expect(parent.events == [.data(.main, "0123"), .flush])
        #expect(eof.isPending)

        let late = write(data("x"))
        #expect(late.failed(with: .outputClosed))
        let result = write(done)  // a service's result may follow its eof
        child.flush()
        #expect(result.isPending)

        grant(2)
        #expect(parent.events.suffix(4) == [.data(.main, "45"), .eof, .message(.done(.empty)), .flush])
        #expect(bytes.succeeded)
        #expect(eof.succeeded)
        #expect(result.succeeded)
        #expect(recorder.events.contains(.outputClosed))
        #expect(child.isActive)
        #expect(FutureOutcome(child.close(mode: .output)).failed(with: .outputClosed))
    }

    @Test func closeFailsHeldWritesAndSendsOneClose() throws {
        parent.credit = 0
        child.activate(credit: 0)
        let held = write(data("held"))
        child.flush()
        #expect(held.isPending)
        let closeFuture = FutureOutcome(child.closeFuture)

        let close = FutureOutcome(child.close())
        #expect(held.error != nil)
        #expect(close.succeeded)
        #expect(parent.events == [.close, .flush])
        #expect(!child.isActive)
        #expect(recorder.events.last == .inactive)

        // The multiplexer's report of the end, once the peer's close arrives, changes nothing.
        let seen = recorder.events
        child.closed(error: ProtocolError(.badRequest, "too late"))
        child.receive(data("too late"))
        #expect(recorder.events == seen)
        #expect(parent.closes == 1)
        #expect(write(done).failed(with: .ioOnClosedChannel))
        #expect(FutureOutcome(child.close()).failed(with: .alreadyClosed))
        #expect(parent.closes == 1)

        #expect(closeFuture.isPending)  // completed after the pipeline is done with the close
        connection.embeddedEventLoop.run()
        #expect(closeFuture.succeeded)
    }

    @Test func closeBeforeActivationIsSentAndActivationIgnored() {
        let close = FutureOutcome(child.close())
        #expect(close.succeeded)
        #expect(parent.events == [.close, .flush])
        child.activate(credit: 100)
        #expect(!child.isActive)
        #expect(recorder.events.isEmpty)
    }

    // MARK: Closed from the connection's side

    @Test func aServiceErrorDeliversBufferedInputThenErrorThenInactive() throws {
        try set(ChannelOptions.autoRead, false)
        parent.credit = 0
        child.activate(credit: 0)
        child.receive(data("buffered"))
        child.receive(done)
        let held = write(data("held"))
        child.flush()
        let error = ProtocolError(.unexpectedMessage, "data before file.begin")

        child.closed(error: error)
        #expect(
            recorder.events == [
                .active, .writable(false), .read(data("buffered")), .read(done), .readComplete,
                .error(String(describing: error)), .inactive,
            ]
        )
        #expect((held.error as? ProtocolError) == error)
        #expect(parent.consumed.isEmpty)  // no window frame after the channel ended
        #expect(parent.events.isEmpty)  // the multiplexer answered the peer; the child sends nothing
        #expect(!child.isActive)
    }

    @Test func aCleanCloseFromThePeerIsNoError() {
        child.activate(credit: 100)
        let closeFuture = FutureOutcome(child.closeFuture)
        child.closed(error: nil)
        child.closed(error: ChannelError.eof)
        #expect(recorder.events == [.active, .inactive])
        connection.embeddedEventLoop.run()
        #expect(closeFuture.succeeded)
        #expect(parent.events.isEmpty)
    }

    // MARK: What a child channel does not do

    @Test func unsupportedOperationsFail() {
        #expect(throws: ChannelError.operationUnsupported) {
            try #require(child.syncOptions).setOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        }
        #expect(FutureOutcome(child.close(mode: .input)).failed(with: .operationUnsupported))
        let event = FutureOutcome(child.triggerUserOutboundEvent("anything"))
        #expect(event.failed(with: .operationUnsupported))
        #expect(child.parent === connection)
        #expect(child.eventLoop === connection.eventLoop)
    }
}
