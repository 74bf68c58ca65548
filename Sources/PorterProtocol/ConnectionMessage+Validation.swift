extension ConnectionMessage {
    /// Checks every member against its range (docs/PROTOCOL.md section 3.3, ``MessageRanges``).
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage``, naming the member.
    public func validate() throws(ProtocolError) {
        switch self {
        case .hello(let hello):
            guard (1...MessageRanges.maxVersions).contains(hello.versions.count) else {
                throw ProtocolError(
                    .badMessage, "'hello' must offer 1 to \(MessageRanges.maxVersions) versions")
            }
            for version in hello.versions { try checkRange(version, in: MessageRanges.version, "versions") }
            try MessageRanges.checkThirtyTwoBytes(hello.nonce, "nonce")
            try hello.limits?.validate("limits.")
        case .welcome(let welcome):
            try checkRange(welcome.version, in: MessageRanges.version, "version")
            try MessageRanges.checkThirtyTwoBytes(welcome.nonce, "nonce")
            try welcome.limits.frames.validate("limits.")
            try MessageRanges.checkSeconds(welcome.limits.idleTimeout, "limits.idleTimeout")
            try welcome.limits.channels.validate("limits.")
        case .auth(let auth):
            if auth.method == PublicKeyProof.method {
                guard let key = auth.key else {
                    throw ProtocolError(.badMessage, "'auth' with method 'publickey' must carry 'key'")
                }
                try MessageRanges.checkAtMost(key, MessageRanges.maxKeyBlob, "key")
                try MessageRanges.checkAtMost(auth.proof, MessageRanges.maxKeyBlob, "proof")
            } else {
                try MessageRanges.checkThirtyTwoBytes(auth.proof, "proof")
            }
        case .ready(let ready):
            if let proof = ready.proof { try MessageRanges.checkThirtyTwoBytes(proof, "proof") }
        case .ping(let ping), .pong(let ping):
            try checkRange(ping.id, in: MessageRanges.integer, "id")
        case .global(let global):
            try checkRange(global.id, in: MessageRanges.integer, "id")
            if case .fileAttrs(let attributes) = global.request {
                if let mode = attributes.mode { try checkRange(mode, in: MessageRanges.mode, "mode") }
                try attributes.mtime?.validate("mtime")
            }
        case .globalOK(let ok):
            try checkRange(ok.id, in: MessageRanges.integer, "id")
        case .globalFail(let fail):
            try checkRange(fail.id, in: MessageRanges.integer, "id")
        case .shutdown(let shutdown):
            try MessageRanges.checkSeconds(shutdown.grace, "grace")
        case .keepalive, .error:
            break
        }
    }
}

extension FrameLimits {
    /// Checks announced limits against their ranges, naming them after `prefix`.
    func validate(_ prefix: String) throws(ProtocolError) {
        try checkRange(maxControlPayload, in: MessageRanges.maxControlPayload, prefix + "maxControlPayload")
        try checkRange(maxDataPayload, in: MessageRanges.maxDataPayload, prefix + "maxDataPayload")
    }
}
