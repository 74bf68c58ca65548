import PorterProtocol

/// How a client decides whether the server it reached is the one it meant, before anything secret is sent.
///
/// Mirrors ssh: a pinned fingerprint is checked exactly; otherwise the known-hosts file decides, and a host it
/// does not name is a *first contact* that ``FirstContact`` settles. The identity of a server run by the same user
/// on the same machine (read from its identity file) is trusted without asking.
public struct HostTrust: Sendable {
    /// What to do with a server the known-hosts file does not name.
    public enum FirstContact: Sendable {
        /// Refuse the connection, saying how to pin the identity.
        case refuse
        /// Trust the identity and record it (trust on first use without asking).
        case trust
        /// Ask: the closure gets the host and the identity it presents and says whether to trust it; a yes is
        /// recorded at once.
        case ask(@Sendable (_ host: String, _ fingerprint: Fingerprint) async -> Bool)
    }

    /// The identity the server must present; when set, the known-hosts file is neither read nor written.
    public var pinned: Fingerprint?
    /// The known-hosts file consulted when nothing is pinned.
    public var knownHosts: KnownHosts
    /// What to do on first contact.
    public var firstContact: FirstContact
    /// Identities trusted for every host: by default the one in `~/.porter/identity.pem`, if readable, so that a
    /// client reaching its own user's server needs no pin.
    public var localIdentities: [Fingerprint]

    /// Trust exactly `fingerprint`.
    public static func pinned(_ fingerprint: Fingerprint) -> HostTrust {
        HostTrust(pinned: fingerprint, knownHosts: KnownHosts(), firstContact: .refuse, localIdentities: [])
    }

    /// Trust what `knownHosts` records, settling first contact with `firstContact`.
    public static func knownHosts(
        _ knownHosts: KnownHosts = KnownHosts(),
        firstContact: FirstContact,
        localIdentities: [Fingerprint] = HostTrust.localIdentity().map { [$0] } ?? []
    ) -> HostTrust {
        HostTrust(pinned: nil, knownHosts: knownHosts, firstContact: firstContact, localIdentities: localIdentities)
    }

    /// The fingerprint of this user's own server identity, if there is one readable at `path`.
    public static func localIdentity(at path: String = ServerIdentity.defaultPath) -> Fingerprint? {
        guard PrivateFile.exists(path) else { return nil }
        return try? ServerIdentity.load(at: path).fingerprint
    }

    /// What to do about `host` presenting `fingerprint`.
    enum Decision: Sendable {
        /// Go on.
        case trust
        /// Go on, and record the identity once the Porter handshake has succeeded.
        case trustAndRecord
        /// Ask first (then record).
        case ask(@Sendable (_ host: String, _ fingerprint: Fingerprint) async -> Bool)
        /// Refuse, with the reason for the user.
        case refuse(PorterError)
    }

    func decide(host: String, presenting fingerprint: Fingerprint) -> Decision {
        if let pinned {
            guard pinned == fingerprint else {
                return .refuse(
                    PorterError(
                        .authentication,
                        "\(host) presented identity \(fingerprint), not the pinned \(pinned); refusing to connect (check with `porter serve --print-fingerprint` on the server)"
                    ))
            }
            return .trust
        }
        if localIdentities.contains(fingerprint) { return .trust }
        let verdict: KnownHosts.Verdict
        do {
            verdict = try knownHosts.verdict(for: host, presenting: fingerprint)
        } catch {
            return .refuse(error)
        }
        switch verdict {
        case .known:
            return .trust
        case .changed(let line, let recorded):
            return .refuse(
                PorterError(
                    .authentication,
                    "THE IDENTITY OF \(host) HAS CHANGED: it presented \(fingerprint), but line \(line) of \(knownHosts.path) records \(recorded). Someone may be intercepting the connection, or the server's identity was replaced. Refusing to connect; if the change is expected, remove line \(line) of \(knownHosts.path)"
                ))
        case .unknown:
            switch firstContact {
            case .trust: return .trustAndRecord
            case .ask(let ask): return .ask(ask)
            case .refuse: return .refuse(Self.unknownHost(host, fingerprint, knownHosts))
            }
        }
    }

    static func unknownHost(_ host: String, _ fingerprint: Fingerprint, _ knownHosts: KnownHosts) -> PorterError {
        PorterError(
            .authentication,
            "the identity of \(host) is not known (it presented \(fingerprint)); after checking it with `porter serve --print-fingerprint` on the server, pin it with --fingerprint \(fingerprint), or add the line \"\(host) \(fingerprint)\" to \(knownHosts.path)"
        )
    }
}
