import NIOCore

/// The echo service's transformation: ASCII letters upper-cased, every other byte unchanged.
///
/// This is what the course's `data.upper()` does to bytes, so a classic client sees the same answer.
public enum EchoTransform {
    /// Upper-cases the ASCII letters of `buffer` in place.
    public static func uppercaseASCII(_ buffer: inout ByteBuffer) {
        buffer.withUnsafeMutableReadableBytes { bytes in
            for index in bytes.indices {
                let byte = bytes[index]
                if byte >= 0x61, byte <= 0x7A { bytes[index] = byte &- 0x20 }
            }
        }
    }
}
