import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A server identity as people compare it: `SHA256:` and the unpadded base64 of the SHA-256 digest of the
/// server's public key (its DER SubjectPublicKeyInfo), the form OpenSSH uses for host keys.
///
/// The fingerprint names the key, not the certificate, so a certificate re-issued for the same key keeps it.
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let digest: [UInt8]

    /// The fingerprint of a public key given as DER SubjectPublicKeyInfo.
    public init(subjectPublicKeyInfo: [UInt8]) {
        self.digest = Array(SHA256.hash(data: subjectPublicKeyInfo))
    }

    /// Parses `SHA256:` followed by unpadded (or padded) base64 of 32 bytes; `nil` for anything else.
    public init?(_ text: String) {
        guard text.hasPrefix("SHA256:") else { return nil }
        var encoded = String(text.dropFirst("SHA256:".count))
        while encoded.utf8.count % 4 != 0 { encoded += "=" }
        guard let data = Data(base64Encoded: encoded), data.count == SHA256.byteCount else { return nil }
        self.digest = Array(data)
    }

    /// `SHA256:` and unpadded base64.
    public var description: String {
        var encoded = Data(digest).base64EncodedString()
        while encoded.hasSuffix("=") { encoded.removeLast() }
        return "SHA256:" + encoded
    }
}

/// What the client authentication proof is bound to on a TLS connection: the SHA-256 digest of the server's
/// certificate (DER) as the client received it, after RFC 5929's "tls-server-end-point".
///
/// A relay that terminates TLS itself must present a different certificate, so a proof made for the relay is
/// rejected by the real server, and the real server's proof is rejected by the client.
public enum ChannelBinding {
    /// The binding for a server certificate in DER.
    public static func serverEndPoint(certificateDER: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: certificateDER))
    }
}
