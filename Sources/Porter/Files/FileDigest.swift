import CXXHash
import Crypto
import NIOCore
import PorterProtocol

/// A digest computed as a file's bytes go by, in order: XXH3-128 (the default) or SHA-256.
struct FileDigest: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case xxh128(XXH128State)
    }

    private var state: State

    /// Starts a digest with `algorithm`.
    init(_ algorithm: ControlMessage.Checksum = .default) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .xxh128: state = .xxh128(XXH128State())
        }
    }

    /// Adds the readable bytes of `buffer`.
    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { update($0) }
    }

    /// Adds `bytes`.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha256(hash)
        case .xxh128(let hash):
            hash.update(bytes)
        }
    }

    /// The digest of everything added so far, as lowercase hex (as `sha256sum` and `xxh128sum` print it); the
    /// digest can go on being updated.
    var hex: String {
        switch state {
        case .sha256(let hash): Self.hex(Array(hash.finalize()))
        case .xxh128(let hash): Self.hex(hash.canonical)
        }
    }

    /// `bytes` in lower-case hexadecimal, two digits each.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// The streaming state of an XXH3-128 digest (xxHash's own implementation, in the `CXXHash` target).
///
/// Used by one task at a time, like the file it hashes.
///
/// `@unchecked Sendable`: xxHash's state is not safe to touch from two threads at once, and it never is: it belongs
/// to one ``FileDigest``, which one task updates one call after another (the file's owner, or a local hash).
final class XXH128State: @unchecked Sendable {
    private let state: OpaquePointer

    init() {
        guard let state = XXH3_createState() else { fatalError("out of memory for an XXH3 state") }
        self.state = state
        XXH3_128bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        XXH3_128bits_update(state, base, bytes.count)
    }

    /// The digest so far in xxHash's canonical (big-endian) byte order; the state is unchanged.
    var canonical: [UInt8] {
        let hash = XXH3_128bits_digest(state)
        return withUnsafeBytes(of: hash.high64.bigEndian, Array.init)
            + withUnsafeBytes(of: hash.low64.bigEndian, Array.init)
    }
}

extension FileDigest {
    /// The SHA-256 hex digest of `text`'s UTF-8 bytes.
    static func of(_ text: String) -> String {
        var digest = FileDigest(.sha256)
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { digest.update(UnsafeRawBufferPointer($0)) }
        return digest.hex
    }
}
