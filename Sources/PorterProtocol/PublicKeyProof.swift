/// The key proof of the handshake (method `publickey`): the client signs, with its private key, a transcript that
/// binds both nonces, the secure channel and the key itself.
///
/// ```
/// signed = string("porter-publickey-v1") || string(nonce_c) || string(nonce_s) || string(binding) || string(key)
/// string(x) = x's length as 4 bytes, big-endian, then x
/// ```
///
/// `key` is the public key in SSH's wire form (``SSHPublicKey/blob``), the same bytes as `auth.key`; `binding`
/// identifies the secure channel (empty on a plaintext transport), so a proof made for one server or one
/// connection is useless on any other. The signature is in SSH's wire form (``SSHSignature/blob``), as
/// ssh-agent returns it: Ed25519 signs the transcript itself, ECDSA P-256 its SHA-256 digest.
public enum PublicKeyProof {
    /// The method name announced in `welcome` and named in `auth`.
    public static let method = "publickey"

    /// The label that opens every transcript; it names the construction, not the protocol version.
    static let label = Array("porter-publickey-v1".utf8)

    /// The bytes the client signs, and the server verifies the signature against.
    public static func transcript(
        clientNonce: [UInt8], serverNonce: [UInt8], binding: [UInt8], key: SSHPublicKey
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in [label, clientNonce, serverNonce, binding, key.blob] {
            let count = UInt32(field.count)
            bytes += [UInt8(count >> 24), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff)]
            bytes += field
        }
        return bytes
    }
}

/// Who a connection authenticated as.
public enum Principal: Sendable {
    /// A holder of the server's token: every operation the server serves.
    case token
    /// The holder of a key listed in the authorized keys file, with that line's options. Indirect, so that a
    /// connection's state holds a pointer, not the line.
    indirect case key(AuthorizedKeys.Entry, fingerprint: String)

    /// How the audit trail and the logs name the principal: `token`, or the key's fingerprint and comment.
    public var description: String {
        switch self {
        case .token: "token"
        case .key(let entry, let fingerprint): entry.comment.isEmpty ? fingerprint : "\(fingerprint) (\(entry.comment))"
        }
    }
}
