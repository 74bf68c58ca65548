import NIOCore

/// The frame codec of a connection: bytes in become ``Frame``s, ``Frame``s out become bytes, in the header form
/// in force, which the outbound user event ``FrameForm`` changes for both directions at once.
///
/// A version 2 connection moves to ``FrameForm/channels`` right after `welcome`: the server while it handles
/// `hello` (after writing `welcome`), the client while it handles `welcome` (before writing `auth`). Since the
/// frames of one read are handed on one at a time, the next frame decoded is already in the new form.
///
/// Writes do not copy large payloads: the header goes out in its own small buffer and a payload over
/// ``copyThreshold`` bytes follows as it is, so a 1 MiB data frame costs no memcpy.
public final class FrameCodec: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Frame
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    /// Payloads up to this size are copied behind their header into one buffer, which is cheaper than two writes.
    public static let copyThreshold = 16 * 1024
    /// Bytes already decoded that the buffer may keep in front of a partial frame before it is compacted.
    static let reclaimThreshold = 64 * 1024

    private var decoder: FrameDecoder
    private var form: FrameForm
    /// Bytes received and not yet decoded.
    private var buffered: ByteBuffer?
    private var failed = false
    private var decoding = false

    /// A codec enforcing `limits` on the frames it decodes, starting in `form`.
    public init(limits: FrameLimits = FrameLimits(), form: FrameForm = .handshake) {
        self.decoder = FrameDecoder(limits: limits, form: form)
        self.form = form
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        if buffered == nil {
            buffered = bytes
        } else {
            buffered!.writeBuffer(&bytes)
        }
        decodeFrames(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        decodeLast(context: context)
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { decodeLast(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let form = event as? FrameForm else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        self.form = form
        decoder.form = form
        promise?.succeed()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard frame.payload.readableBytes > Self.copyThreshold else {
            context.write(
                wrapOutboundOut(frame.encoded(allocator: context.channel.allocator, form: form)), promise: promise)
            return
        }
        var header = context.channel.allocator.buffer(capacity: form.headerLength)
        frame.writeHeader(into: &header, form: form)
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(frame.payload), promise: promise)
    }

    /// Hands on every complete frame buffered, one at a time. Bytes that arrive while a frame is being handled
    /// (a handler that causes a read) join the buffer, and this loop decodes them.
    private func decodeFrames(context: ChannelHandlerContext) {
        guard !decoding else { return }
        decoding = true
        defer { decoding = false }
        while !failed, var buffer = buffered {
            // Out of the property while decoding, so that the frame's slice does not force a copy.
            buffered = nil
            let frame: Frame?
            do {
                frame = try decoder.decode(buffer: &buffer)
            } catch {
                failed = true
                context.fireErrorCaught(error)
                return
            }
            keep(buffer)
            guard let frame else { return }
            context.fireChannelRead(wrapInboundOut(frame))
        }
    }

    /// Puts back what is left of `buffer`, joined with anything that arrived meanwhile.
    private func keep(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        var buffer = buffer
        if buffer.readerIndex > Self.reclaimThreshold, buffer.readableBytes < buffer.readerIndex {
            buffer.discardReadBytes()
        }
        if var arrived = buffered {
            buffer.writeBuffer(&arrived)
        }
        buffered = buffer
    }

    /// The stream ended: a partial frame is an error.
    private func decodeLast(context: ChannelHandlerContext) {
        guard !failed else { return }
        decodeFrames(context: context)
        guard !failed else { return }
        var buffer = buffered ?? context.channel.allocator.buffer(capacity: 0)
        buffered = nil
        do {
            while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
        }
    }
}
