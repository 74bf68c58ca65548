import NIOCore
import PorterProtocol

extension UDPEchoDatagram {
    /// The receive buffers of a UDP socket that takes echo datagrams: one byte more than ``maxLength``, so that a
    /// datagram within the limit arrives whole and a larger one, cut by the kernel to this size, is recognisably
    /// over it and can be dropped. (NIO's default of 2048 bytes would cut datagrams inside the limit.)
    public static var receiveAllocator: FixedSizeRecvByteBufferAllocator {
        FixedSizeRecvByteBufferAllocator(capacity: maxLength + 1)
    }

    /// Whether a datagram read through ``receiveAllocator`` was larger than ``maxLength`` (and so was cut).
    public static func isOversized(_ datagram: ByteBuffer) -> Bool { datagram.readableBytes > maxLength }
}
