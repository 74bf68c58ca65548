import NIOCore
import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// Writes lines for a person straight to the file descriptor, so that they appear at once even when interleaved
/// with input.
enum Terminal {
    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        write(Array((text + "\n").utf8), to: STDOUT_FILENO)
    }

    /// Writes raw bytes and a newline to standard output.
    static func line(bytes: some Sequence<UInt8>) {
        write(Array(bytes) + [UInt8(ascii: "\n")], to: STDOUT_FILENO)
    }

    /// Writes `text`, without a newline, to standard error.
    static func prompt(_ text: String) {
        write(Array(text.utf8), to: STDERR_FILENO)
    }

    /// Writes `porter: text` to standard error.
    static func error(_ text: String) {
        write(Array(("porter: " + text + "\n").utf8), to: STDERR_FILENO)
    }

    /// Writes `buffer` as it is to `descriptor` (standard output or error), waiting until it is all written.
    ///
    /// - Returns: `false` if the descriptor takes no more: its reader has gone (a pipe into `head`) or it failed.
    @discardableResult
    static func write(_ buffer: ByteBuffer, to descriptor: Int32) -> Bool {
        buffer.withUnsafeReadableBytes { DescriptorWrite.all($0, to: descriptor) == nil }
    }

    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        write(ByteBuffer(bytes: bytes), to: descriptor)
    }
}
