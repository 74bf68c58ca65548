import NIOCore
import PorterProtocol

extension ChannelPipeline.SynchronousOperations {
    /// Adds the frame codec: bytes in become ``Frame``s, ``Frame``s out become bytes.
    ///
    /// This is the one place where a transport meets the framing: a secure transport adds its handler in front of
    /// these, and nothing above the frames changes. Must run on the channel's event loop.
    func addFrameCodec(limits: FrameLimits) throws {
        try addHandler(FrameCodec(limits: limits))
    }
}

extension Channel {
    /// Lets socket reads grow to 1 MiB under a stream of large frames (NIO's default stops at 64 KiB), so that a
    /// full data frame takes one or two reads rather than sixteen, each copied into the frame decoder's buffer.
    /// Reads shrink again when the stream stops. Must run on the channel's event loop.
    ///
    /// A channel keeps its receive buffer while idle, so the first reads are small (512 bytes: a handshake
    /// message fits): 10,000 idle connections then hold 5 MB of buffers rather than 20 MB.
    ///
    /// One read per readiness event, not NIO's default of four: the server stops reading a client while the
    /// connection is not writable (``ChannelMultiplexer``), and four 1 MiB reads in a row would run that far past it.
    func allowLargeReads() throws {
        try syncOptions?.setOption(
            .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 1 << 20))
        try syncOptions?.setOption(.maxMessagesPerRead, value: 1)
    }
}
