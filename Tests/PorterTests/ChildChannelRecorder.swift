import NIOCore

@testable import Porter

/// A handler that records what a child channel's pipeline sees.
final class ChildChannelRecorder: ChannelInboundHandler {
    typealias InboundIn = ChannelContent

    /// One thing the pipeline saw.
    enum Event: Equatable {
        case active
        case inactive
        case read(ChannelContent)
        case readComplete
        case inputClosed
        case outputClosed
        case error(String)
        case writable(Bool)
    }

    private(set) var events: [Event] = []

    /// The writability changes seen.
    var writability: [Bool] {
        events.compactMap { if case .writable(let value) = $0 { value } else { nil } }
    }

    func channelActive(context: ChannelHandlerContext) {
        events.append(.active)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.append(.inactive)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        events.append(.read(unwrapInboundIn(data)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        events.append(.readComplete)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? ChannelEvent {
        case .inputClosed: events.append(.inputClosed)
        case .outputClosed: events.append(.outputClosed)
        case nil: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        events.append(.error(String(describing: error)))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        events.append(.writable(context.channel.isWritable))
    }
}
