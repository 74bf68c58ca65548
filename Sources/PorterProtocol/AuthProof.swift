import Crypto

/// The token proofs exchanged in the handshake (method `hmac-sha256`).
///
/// Each side proves it holds the shared token without sending it:
///
/// ```
/// proof(role) = HMAC-SHA256(key: UTF-8 bytes of the token,
///                           message: role 0x00 "porter-auth-v1" 0x00 client-nonce server-nonce binding)
/// ```
///
/// `role` is the ASCII text `client` or `server`; the nonces are the 32 bytes each side sent in
/// `hello` and `welcome`; `binding` identifies the secure channel the proofs travel in (empty on a plaintext
/// transport), so a proof cannot be replayed through another channel. Verification is constant-time.
public struct AuthProof: Sendable {
    /// The method name announced in `welcome` and named in `auth`.
    public static let method = "hmac-sha256"

    /// Which side a proof speaks for.
    public enum Role: String, Sendable {
        /// The connecting side.
        case client
        /// The accepting side.
        case server
    }

    private let key: SymmetricKey
    private let transcript: [UInt8]

    /// Prepares proofs for one handshake.
    public init(token: String, clientNonce: [UInt8], serverNonce: [UInt8], binding: [UInt8] = []) {
        self.key = SymmetricKey(data: Array(token.utf8))
        self.transcript = Array("porter-auth-v1".utf8) + [0] + clientNonce + serverNonce + binding
    }

    /// The proof for `role`.
    public func proof(for role: Role) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(for: role), using: key))
    }

    /// Whether `proof` is the right proof for `role`, compared in constant time.
    public func verify(_ proof: [UInt8], for role: Role) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: message(for: role), using: key)
    }

    private func message(for role: Role) -> [UInt8] {
        // The role goes first so that the two proofs of one handshake never share a message.
        Array(role.rawValue.utf8) + [0] + transcript
    }
}
