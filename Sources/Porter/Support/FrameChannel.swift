import NIOCore
import PorterProtocol

/// A connection carrying Porter frames, as the async code sees it.
public typealias FrameChannel = NIOAsyncChannel<Frame, Frame>

extension ChannelPipeline.SynchronousOperations {
    /// Adds the frame codec: bytes in become ``Frame``s, ``Frame``s out become bytes.
    ///
    /// This is the one place where a transport meets the framing: a secure transport adds its handler in front of
    /// these, and nothing above the frames changes. Must run on the channel's event loop.
    func addFrameCodec(limits: FrameLimits) throws {
        try addHandler(ByteToMessageHandler(FrameDecoder(limits: limits)))
        try addHandler(FrameWriteHandler())
    }
}
