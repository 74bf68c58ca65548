import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PorterProtocol
import Testing

@testable import Porter

@Suite(.timeLimit(.minutes(3))) struct SecureTransportTests {
    private func temporaryFile(_ name: String) -> String {
        NSTemporaryDirectory() + "porter-tls-\(UUID().uuidString)/\(name)"
    }

    private func expectRefusal(
        _ server: TestServer, _ transport: ClientTransport, mentioning words: [String]
    ) async throws {
        do {
            try await server.withClient(transport: transport) { _ in }
            Issue.record("connected although the server's identity should have been refused")
        } catch let error as PorterError {
            #expect(error.kind == .authentication)
            for word in words { #expect(error.message.contains(word), "\(error.message)") }
        }
    }

    @Test func aWrongPinnedFingerprintIsRefused() async throws {
        let other = try ServerIdentity.generate()
        try await withTestServer { server in
            try await expectRefusal(
                server, .tls(.pinned(other.fingerprint)),
                mentioning: ["\(testIdentity.fingerprint)", "not the pinned \(other.fingerprint)"])
        }
    }

    @Test func firstContactIsRecordedThenTrusted() async throws {
        let knownHosts = KnownHosts(path: temporaryFile("known_hosts"))
        try await withTestServer { server in
            let trust = HostTrust.knownHosts(knownHosts, firstContact: .trust, localIdentities: [])
            try await server.withClient(transport: .tls(trust)) { _ in }
            let recorded = try String(contentsOfFile: knownHosts.path, encoding: .utf8)
            #expect(recorded == "\(server.endpoint) \(testIdentity.fingerprint)\n")
            // Known now: a client that refuses first contacts gets in, and nothing more is recorded.
            let strict = HostTrust.knownHosts(knownHosts, firstContact: .refuse, localIdentities: [])
            try await server.withClient(transport: .tls(strict)) { _ = try await $0.ping() }
            #expect(try String(contentsOfFile: knownHosts.path, encoding: .utf8) == recorded)
        }
    }

    @Test func anUnknownServerIsRefusedWithoutAskingAndNothingIsRecorded() async throws {
        let knownHosts = KnownHosts(path: temporaryFile("known_hosts"))
        try await withTestServer { server in
            let trust = HostTrust.knownHosts(knownHosts, firstContact: .refuse, localIdentities: [])
            try await expectRefusal(
                server, .tls(trust),
                mentioning: ["not known", "--fingerprint \(testIdentity.fingerprint)", knownHosts.path])
            #expect(!FileManager.default.fileExists(atPath: knownHosts.path))
        }
    }

    @Test func firstContactAsksAndRecordsOnlyAYes() async throws {
        let knownHosts = KnownHosts(path: temporaryFile("known_hosts"))
        try await withTestServer { server in
            let host = "\(server.endpoint)"
            let no = HostTrust.knownHosts(
                knownHosts,
                firstContact: .ask { asked, fingerprint in
                    asked == host && fingerprint == testIdentity.fingerprint ? false : true
                },
                localIdentities: [])
            try await expectRefusal(server, .tls(no), mentioning: ["not known"])
            #expect(!FileManager.default.fileExists(atPath: knownHosts.path))
            let yes = HostTrust.knownHosts(knownHosts, firstContact: .ask { _, _ in true }, localIdentities: [])
            try await server.withClient(transport: .tls(yes)) { _ in }
            #expect(try knownHosts.verdict(for: host, presenting: testIdentity.fingerprint) == .known)
        }
    }

    @Test func aChangedIdentityIsRefusedNamingTheFileAndLine() async throws {
        let knownHosts = KnownHosts(path: temporaryFile("known_hosts"))
        let old = try ServerIdentity.generate()
        try await withTestServer { server in
            try FileManager.default.createDirectory(
                atPath: (knownHosts.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let lines = "# servers\nother:7070 \(testIdentity.fingerprint)\n\(server.endpoint) \(old.fingerprint)\n"
            try lines.write(toFile: knownHosts.path, atomically: true, encoding: .utf8)
            // Even a client that would trust a first contact refuses a changed identity.
            let trust = HostTrust.knownHosts(knownHosts, firstContact: .trust, localIdentities: [])
            try await expectRefusal(
                server, .tls(trust),
                mentioning: ["HAS CHANGED", "line 3 of \(knownHosts.path)", "\(old.fingerprint)"])
            #expect(try String(contentsOfFile: knownHosts.path, encoding: .utf8) == lines)
        }
    }

    @Test func theServersOwnUserTrustsItsLocalIdentity() async throws {
        let knownHosts = KnownHosts(path: temporaryFile("known_hosts"))
        try await withTestServer { server in
            let trust = HostTrust.knownHosts(
                knownHosts, firstContact: .refuse, localIdentities: [testIdentity.fingerprint])
            try await server.withClient(transport: .tls(trust)) { _ = try await $0.ping() }
            #expect(!FileManager.default.fileExists(atPath: knownHosts.path))
        }
    }

    @Test func identitiesAreCreatedPrivateAndReadBack() throws {
        let path = temporaryFile("identity.pem")
        let (identity, created) = try ServerIdentity.loadOrCreate(at: path)
        #expect(created)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try ServerIdentity.loadOrCreate(at: path)
        #expect(!again.created && again.identity.fingerprint == identity.fingerprint)
        #expect(Fingerprint("\(identity.fingerprint)") == identity.fingerprint)
        #expect(try ServerIdentity.generate().fingerprint != identity.fingerprint)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(throws: PorterError.self) { try ServerIdentity.load(at: path) }
    }

    @Test func aPlaintextClientOnATLSPortIsToldSo() async throws {
        try await withTestServer { server in
            do {
                try await server.withClient(transport: .plaintext) { _ in }
                Issue.record("a plaintext client was served on a TLS port")
            } catch let error as PorterError {
                #expect(error.code == .tlsRequired)
                #expect(error.message.contains("requires TLS"))
            }
        }
    }

    @Test func aTLSClientOnAPlaintextPortIsToldSo() async throws {
        try await withTestServer(plaintext: true) { server in
            do {
                try await server.withClient(transport: .tls(.pinned(testIdentity.fingerprint))) { _ in }
                Issue.record("a TLS client was served on a plaintext port")
            } catch let error as PorterError {
                #expect(error.code == .tlsUnavailable)
                #expect(error.message.contains("--plaintext"))
            }
        }
    }

    @Test func unixSocketsStayPlaintextWhateverTheTransport() async throws {
        let path = "/tmp/porter-tls-\(UInt32.random(in: .min ... .max)).sock"
        try await withTestServer(listen: [.unix(path: path)]) { server in
            try await server.withClient(transport: .tls(.pinned(testIdentity.fingerprint))) { _ = try await $0.ping() }
        }
    }

    /// A relay that terminates TLS with its own identity and opens its own TLS connection to the server passes
    /// every byte faithfully, yet the server refuses the client: the proof is bound to the relay's certificate.
    @Test func aRelayedHandshakeIsRefused() async throws {
        let relayIdentity = try ServerIdentity.generate()
        try await withTestServer { server in
            try await withTLSRelay(to: server.endpoint, presenting: relayIdentity) { relay in
                do {
                    try await server.withClient(at: relay, transport: .tls(.pinned(relayIdentity.fingerprint))) { _ in }
                    Issue.record("a relayed handshake authenticated")
                } catch let error as PorterError {
                    #expect(error.code == .authFailed)
                }
            }
            // The same client straight to the server is fine.
            try await server.withClient { _ = try await $0.ping() }
        }
    }

    @Test func aFloodOfIdleUnauthenticatedConnectionsDoesNotLockOutARealClient() async throws {
        // The flood's connections outlive the real client's patience, so only a free slot can let it in.
        let limit: (inout ServerConfiguration) -> Void = { $0.maxUnauthenticatedPerSource = 64 }
        try await withTestServer(authTimeout: 300, configure: limit) { server in
            guard case .tcp(_, let port) = server.endpoint else { throw TestFailure("not TCP") }
            // 200 connections from another loopback address that never say a word.
            var flood: [any Channel] = []
            for _ in 0..<200 {
                flood.append(
                    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .bind(to: try SocketAddress(ipAddress: "127.0.0.2", port: 0))
                        .connect(host: "127.0.0.1", port: port).get())
            }
            defer { for channel in flood { channel.close(promise: nil) } }
            // The flood holds 64 handshake slots, its share; the rest of it waits, unread.
            try await waitUntil(seconds: 60) {
                server.server.unauthenticatedCount == 64 && server.server.waitingCount == 136
            }
            // A real client from another address connects and authenticates, well before any of the flood's
            // slots could expire, then runs a command.
            let status = try await server.withClient(connectTimeout: 60 * testSlowdown) {
                try await $0.run(["true"]).exit.status
            }
            #expect(status == 0)
        }
    }

    @Test func aBurstFromOneAddressWaitsForSlotsInsteadOfFailing() async throws {
        // The wait for a slot is bounded by the authentication deadline: 30 handshakes through two slots on a
        // loaded machine (debug build, TLS) were seen to take longer than the default 10 s.
        let limit: (inout ServerConfiguration) -> Void = {
            $0.maxUnauthenticatedPerSource = 2
            $0.authTimeout = 60 * testSlowdown
        }
        try await withTestServer(configure: limit) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<30 {
                    // The server's deadline, not the client's, decides: the clients wait as long as it lets them.
                    group.addTask {
                        try await server.withClient(connectTimeout: 30 * testSlowdown) { _ = try await $0.ping() }
                    }
                }
                try await group.waitForAll()
            }
            #expect(server.server.waitingCount == 0)
        }
    }

    @Test func aWaitingConnectionStartsWhenASlotFrees() async throws {
        let limit: (inout ServerConfiguration) -> Void = { $0.maxUnauthenticatedPerSource = 1 }
        try await withTestServer(configure: limit) { server in
            guard case .tcp(_, let port) = server.endpoint else { throw TestFailure("not TCP") }
            let idle = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            try await waitUntil { server.server.unauthenticatedCount == 1 }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // A generous timeout: the wait is for the slot, and a loaded machine is slow to notice the close.
                group.addTask {
                    try await server.withClient(connectTimeout: 30 * testSlowdown) { _ = try await $0.ping() }
                }
                try await waitUntil { server.server.waitingCount == 1 }
                try await idle.close()
                try await group.waitForAll()
            }
        }
    }

    @Test func connectionsBeyondTheLimitAreToldWhy() async throws {
        try await withTestServer(plaintext: true, maxConnections: 1) { server in
            guard case .tcp(_, let port) = server.endpoint else { throw TestFailure("not TCP") }
            let first = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            defer { first.close(promise: nil) }
            try await waitUntil { server.server.connectionCount == 1 }
            let reply = try frames(in: try await rawExchange(with: server.endpoint, sending: []))
            guard let answer = reply.first, case .error(let body) = try ConnectionMessage(frame: answer) else {
                throw TestFailure("expected an error message")
            }
            #expect(body.code == .serverBusy)
            #expect(body.message.contains("limit of 1 connections"))
        }
    }

    @Test func aSilentConnectionIsClosedAtTheAuthenticationDeadline() async throws {
        try await withTestServer(authTimeout: 0.3) { server in
            let started = ContinuousClock.now
            // No TLS handshake, nothing at all: the server closes it anyway.
            _ = try await rawExchange(with: server.endpoint, sending: [])
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            try await waitUntil { server.server.unauthenticatedCount == 0 }
        }
    }
}

/// Runs a TLS-terminating relay in front of `target` while `body` runs.
private func withTLSRelay<Result: Sendable>(
    to target: Endpoint,
    presenting identity: ServerIdentity,
    _ body: (Endpoint) async throws -> Result
) async throws -> Result {
    guard case .tcp(let host, let port) = target else { throw TestFailure("relays use TCP") }
    var serverTLS = TLSConfiguration.makeServerConfiguration(
        certificateChain: [.certificate(identity.certificate)], privateKey: .privateKey(identity.privateKey))
    serverTLS.minimumTLSVersion = .tlsv13
    let serverContext = try NIOSSLContext(configuration: serverTLS)
    var clientTLS = TLSConfiguration.makeClientConfiguration()
    clientTLS.certificateVerification = .none
    let clientContext = try NIOSSLContext(configuration: clientTLS)
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { inbound in
            ClientBootstrap(group: inbound.eventLoop)
                .channelInitializer { upstream in
                    upstream.eventLoop.makeCompletedFuture {
                        try upstream.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: clientContext, serverHostname: nil))
                    }
                }
                .connect(host: host, port: port)
                .flatMapThrowing { upstream in
                    try inbound.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                    try inbound.pipeline.syncOperations.addHandler(Forward(to: upstream))
                    try upstream.pipeline.syncOperations.addHandler(Forward(to: inbound))
                }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    defer { listener.close(promise: nil) }
    guard let address = listener.localAddress, let endpoint = Endpoint(address) else {
        throw TestFailure("relay has no address")
    }
    return try await body(endpoint)
}

/// Writes everything read on one channel to another, and closes it when this one closes.
private final class Forward: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let peer: any Channel

    init(to peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }
}
