import Crypto
import NIOCore
import PorterProtocol

/// A digest computed as a file's bytes go by, in order.
struct FileDigest: Sendable {
    private var hash = SHA256()

    /// Starts a digest with `algorithm`.
    init(_ algorithm: ControlMessage.Checksum = .sha256) {
        switch algorithm {
        case .sha256: hash = SHA256()
        }
    }

    /// Adds the readable bytes of `buffer`.
    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
    }

    /// Adds `bytes`.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hash.update(bufferPointer: bytes)
    }

    /// The digest of everything added so far, as lowercase hex; the digest can go on being updated.
    var hex: String {
        hash.finalize().map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }
}

extension FileDigest {
    /// The SHA-256 hex digest of `text`'s UTF-8 bytes.
    static func of(_ text: String) -> String {
        var digest = FileDigest()
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { digest.update(UnsafeRawBufferPointer($0)) }
        return digest.hex
    }
}
