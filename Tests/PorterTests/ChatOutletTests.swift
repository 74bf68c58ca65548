import NIOCore
import NIOEmbedded
import Testing

@testable import Porter

/// The queue between the chat service and a native member's channel, and the one delivery per event.
@Suite struct ChatOutletTests {
    /// Counts the outlet's wake-ups that reach the channel's pipeline.
    private final class WakeCounter: ChannelInboundHandler {
        typealias InboundIn = Never
        var wakes = 0

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChatOutlet.EventsWaiting { wakes += 1 }
        }
    }

    /// A sink that keeps every delivery it is given.
    private final class KeepingSink: ChatEventSink {
        let kept = Locked<[ChatDelivery]>([])
        func deliver(_ delivery: ChatDelivery) -> Bool {
            kept.withLock { $0.append(delivery) }
            return true
        }
        func finish() {}
    }

    private static func delivery(_ text: String) -> ChatDelivery {
        ChatDelivery(.message(from: "a", text: text, isPrivate: false))
    }

    /// An outlet of `depth` events on an embedded channel whose pipeline counts its wake-ups.
    private static func outlet(depth: Int) throws -> (EmbeddedChannel, WakeCounter, ChatOutlet) {
        let channel = EmbeddedChannel()
        let counter = WakeCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        return (channel, counter, ChatOutlet(channel: channel, depth: depth))
    }

    @Test func holdsAtMostItsDepthInOrderAndWakesTheBridgeOncePerBurst() throws {
        let (channel, counter, outlet) = try Self.outlet(depth: 3)

        #expect(outlet.deliver(Self.delivery("1")))
        #expect(outlet.deliver(Self.delivery("2")))
        #expect(outlet.deliver(Self.delivery("3")))
        // A fourth does not fit: the service removes the member.
        #expect(!outlet.deliver(Self.delivery("4")))
        channel.embeddedEventLoop.run()
        #expect(counter.wakes == 1)

        var texts: [String] = []
        while let next = outlet.next() {
            if case .message(_, let text, _) = next.event { texts.append(text) }
        }
        #expect(texts == ["1", "2", "3"])
        // Taken to the last, the outlet wakes the bridge for the next event again.
        #expect(outlet.deliver(Self.delivery("5")))
        channel.embeddedEventLoop.run()
        #expect(counter.wakes == 2)
        _ = try channel.finish()
    }

    @Test func endsOnceTheLastEventIsTakenAndDropsWhatComesAfter() throws {
        let (channel, counter, outlet) = try Self.outlet(depth: 8)

        #expect(outlet.deliver(Self.delivery("last")))
        outlet.finish()
        #expect(!outlet.hasEnded)
        #expect(outlet.deliver(Self.delivery("after the end")))
        #expect(outlet.next() != nil)
        #expect(outlet.next() == nil)
        #expect(outlet.hasEnded)
        channel.embeddedEventLoop.run()
        #expect(counter.wakes == 1)
        _ = try channel.finish()
    }

    @Test func oneEventIsOneDeliveryForEveryMemberEncodedOnce() throws {
        let service = ChatService()
        let sinks = (0..<3).map { _ in KeepingSink() }
        var seats: [ChatService.Seat] = []
        for (index, sink) in sinks.enumerated() {
            seats.append(
                try service.join(room: "r", name: "m\(index)", checkingName: true, sink: sink, onEvict: {}))
        }
        try service.say(seats[0].id, text: "hello")
        let received = sinks.dropFirst().compactMap { $0.kept.withLock { $0.last } }
        #expect(received.count == 2)
        #expect(received[0] === received[1])
        #expect(received[0].event == .message(from: "m0", text: "hello", isPrivate: false))

        // Made once: every recipient's payload is the one buffer, the message's own JSON.
        let payloads = received.map(\.encoded.payload)
        #expect(payloads.allSatisfy { $0 == received[0].event.channelMessage.payload })
        let storage = payloads.map { $0.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        #expect(Set(storage).count == 1)
    }
}
