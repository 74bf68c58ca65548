import NIOCore
import NIOEmbedded
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// ``ForwardGlue`` on embedded channels: what it reads and writes, whatever the order its two ends become active in.
@Suite struct ForwardGlueTests {
    /// Counts the reads asked of a channel while it is active: a real socket drops a read asked for before it is
    /// registered, as this does.
    final class ReadRecorder: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0

        func read(context: ChannelHandlerContext) {
            if context.channel.isActive { reads += 1 }
            context.read()
        }
    }

    /// A connection a listener accepted may be registered only after the server has accepted its channel (the
    /// accept came back first): the glue reads it once it is active, not before.
    @Test func aSocketThatBecomesActiveAfterItsChannelIsStillRead() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let socket = EmbeddedChannel(loop: loop)
        let recorder = ReadRecorder()
        try socket.pipeline.syncOperations.addHandler(recorder)
        try ForwardGlue.join(channel: channel, socket: socket, role: .client)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        #expect(recorder.reads >= 1)
        // Bytes go across both ways.
        try socket.writeInbound(ByteBuffer(string: "to the target"))
        #expect(try channel.readOutbound(as: ChannelContent.self) == .data(.main, ByteBuffer(string: "to the target")))
        try channel.writeInbound(ChannelContent.data(.main, ByteBuffer(string: "back")))
        #expect(try socket.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "back"))
        _ = try? channel.finish()
        _ = try? socket.finish()
    }

    /// The local peer resets its connection while the server has not yet accepted the channel: the channel is
    /// closed before it was ever active (which fires no channelInactive), and the forward still ends, its socket
    /// closed, so that the client counts it gone.
    @Test func aForwardWhoseChannelClosesBeforeItWasActiveStillEnds() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let socket = EmbeddedChannel(loop: loop)
        try socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let ended = NIOLoopBoundBox(false, eventLoop: loop)
        try ForwardGlue.join(channel: channel, socket: socket, role: .client, ended: { _ in ended.value = true })
        socket.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        loop.run()
        #expect(ended.value)
        #expect(!socket.isActive)
        _ = try? channel.finish()
        _ = try? socket.finish()
    }
}
