import NIOCore
import PorterProtocol

/// The `client2` fuzz target: a client's connection, authenticated against a server's machine in
/// memory, with three `echo` channels opened, fed the channel-form frames decoded from the input as if the server
/// sent them. A driver does what Porter's client does with every action: it consumes the data it is given, sends
/// what the server's credit allows, and closes a channel after the server's eof. Whatever the frames, nothing
/// traps; the machine never holds more channels than the server announced, stops at its first fatal error or the
/// server's, and every frame it asks to write encodes in the channel form.
enum ClientConnectionFuzz {
    static let limits = ConnectionFuzz.limits

    static func run(_ bytes: [UInt8]) {
        var driver = Driver(machine: authenticated())
        for _ in 0..<3 {
            guard let opened = try? driver.machine.open(.init(window: 64, parameters: .echo)) else {
                preconditionFailure("a fresh connection refused an open within its limits")
            }
            Driver.written(opened.frame)
        }
        var decoder = FrameDecoder(limits: FrameLimits(maxControlPayload: 1024, maxDataPayload: 4096), form: .channels)
        var buffer = ByteBuffer(bytes: bytes)
        while !driver.machine.isClosed, let frame = try? decoder.decode(buffer: &buffer) {
            driver.perform(driver.machine.received(frame, now: ConnectionFuzz.Driver.now))
            precondition(driver.machine.channelCount <= limits.maxChannels, "more channels than announced")
        }
    }

    /// A client's machine authenticated by a server's machine, frame by frame.
    static func authenticated() -> ConnectionStateMachine {
        let now = ConnectionFuzz.Driver.now
        var client = ConnectionStateMachine(
            client: ClientHandshake(
                agent: "fuzz", token: ConnectionFuzz.token, nonce: ConnectionFuzz.clientNonce,
                limits: FrameLimits(maxDataPayload: 16_384)),
            timeouts: .init(authentication: .seconds(10), idle: nil))
        var server = ConnectionFuzz.server()
        _ = server.activated(now: now)
        var towardsServer = frames(client.activated(now: now))
        while !towardsServer.isEmpty {
            let towardsClient = towardsServer.flatMap { frames(server.received($0, now: now)) }
            towardsServer = towardsClient.flatMap { frames(client.received($0, now: now)) }
        }
        precondition(client.version == 2, "the fuzz client did not authenticate")
        return client
    }

    private static func frames(_ actions: ConnectionStateMachine.Actions) -> [Frame] {
        actions.compactMap { action in
            switch action {
            case .write(let message): message.frame
            case .send(let frame): frame
            default: nil
            }
        }
    }

    struct Driver {
        var machine: ConnectionStateMachine
        /// Data each channel still has to send, sent as the server's credit allows.
        var pending: [UInt32: ByteBuffer] = [1: ByteBuffer(repeating: 0x61, count: 300)]

        mutating func perform(_ actions: ConnectionStateMachine.Actions) {
            for action in actions {
                switch action {
                case .write(let message): Self.written(message.frame)
                case .send(let frame): Self.written(frame)
                case .fail, .end: precondition(machine.isClosed, "a fatal error left the machine open")
                case .channel(let id, let event): handle(event, on: id)
                case .switchForm, .sign, .authAttempt, .authenticated, .scheduleTimer, .cancelTimer, .pong, .global,
                    .globalAnswered, .shutdownAnnounced:
                    break
                }
            }
        }

        private mutating func handle(_ event: ChannelStateMachine.Action, on id: UInt32) {
            switch event {
            case .accepted, .creditChanged:
                guard var data = pending.removeValue(forKey: id) else { return }
                while let frame = try? machine.send(channel: id, data: &data, on: .main) { Self.written(frame) }
                if data.readableBytes > 0 { pending[id] = data }
            case .deliver(.data(_, let bytes)):
                if let frame = machine.consumed(channel: id, bytes: bytes.readableBytes) { Self.written(frame) }
            case .deliver(.eof):
                if let frame = try? machine.sendEOF(channel: id) { Self.written(frame) }
                if let frame = try? machine.sendClose(channel: id) { Self.written(frame) }
            case .refused, .channelFailed, .closed:
                pending[id] = nil
            case .deliver(.message), .openRequested, .write, .fail:
                break
            }
        }

        static func written(_ frame: Frame) {
            _ = frame.encoded(form: .channels)
        }
    }
}
