import NIOCore
import PorterProtocol

/// The `connection2` fuzz target: a server connection, authenticated, fed the channel-form frames
/// decoded from the input, with a driver that does what Porter's multiplexer does with every action — accepts
/// or refuses each open in turn, consumes and answers the data it is given, ends a channel after the client's
/// eof. For one input in five the server starts shutting down after the second frame. Whatever the frames,
/// nothing traps; the machine never holds more channels than it announced, stops at its first fatal error, hands
/// on no open once shutting down, and every frame it asks to write encodes in the channel form.
enum ConnectionFuzz {
    static let limits = ChannelLimits(maxChannels: 4, initialWindow: 64, maxWindow: 256, maxGlobalRequests: 2)
    static let token = "fuzz-token"
    static let clientNonce = [UInt8](repeating: 1, count: 32)
    static let serverNonce = [UInt8](repeating: 2, count: 32)

    static func run(_ bytes: [UInt8]) {
        var driver = Driver(machine: authenticated())
        var decoder = FrameDecoder(limits: FrameLimits(maxControlPayload: 1024, maxDataPayload: 4096), form: .channels)
        var buffer = ByteBuffer(bytes: bytes)
        var frames = 0
        let shutDownAfter = bytes.count % 5 == 0 ? 2 : nil
        while !driver.machine.isClosed, let frame = try? decoder.decode(buffer: &buffer) {
            driver.perform(driver.machine.received(frame, now: Driver.now))
            precondition(driver.machine.channelCount <= limits.maxChannels, "more channels than announced")
            frames += 1
            if frames == shutDownAfter { driver.perform(driver.machine.shutDown(grace: .seconds(1), now: Driver.now)) }
        }
    }

    /// A server's machine before the client's `hello`.
    static func server() -> ConnectionStateMachine {
        let identity = ServerHandshake.Identity(
            agent: "porter/fuzz", server: "fuzz", limits: .init(frames: FrameLimits(), idleTimeout: 0, channels: limits)
        )
        return ConnectionStateMachine(
            server: ServerHandshake(identity: identity, token: token, nonce: serverNonce),
            timeouts: .init(authentication: .seconds(10), idle: nil))
    }

    /// A machine that has sent `ready`.
    static func authenticated() -> ConnectionStateMachine {
        var machine = server()
        let hello = ConnectionMessage.hello(
            .init(versions: [2], agent: "fuzz", nonce: .init(clientNonce), limits: FrameLimits(maxDataPayload: 16_384)))
        _ = machine.activated(now: Driver.now)
        _ = machine.received(hello.frame, now: Driver.now)
        let proof = AuthProof(token: token, clientNonce: clientNonce, serverNonce: serverNonce).proof(for: .client)
        _ = machine.received(
            ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init(proof))).frame, now: Driver.now)
        precondition(machine.version == 2, "the fuzz connection did not authenticate")
        return machine
    }

    struct Driver {
        static let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var machine: ConnectionStateMachine
        var acceptNext = true

        mutating func perform(_ actions: ConnectionStateMachine.Actions) {
            for action in actions {
                switch action {
                case .write(let message): written(message.frame)
                case .send(let frame): written(frame)
                case .fail, .end: precondition(machine.isClosed, "a fatal error left the machine open")
                case .channel(let id, let event): handle(event, on: id)
                case .global(let request):
                    // Answered at once, every other one refused, so the count of unanswered ones stays right.
                    acceptNext.toggle()
                    let error = acceptNext ? nil : ProtocolError(.fileError, "fuzz")
                    if let frame = machine.answer(global: request.id, error: error) { written(frame) }
                case .switchForm, .sign, .authAttempt, .authenticated, .scheduleTimer, .cancelTimer, .pong,
                    .globalAnswered,
                    .shutdownAnnounced:
                    break
                }
            }
        }

        private mutating func handle(_ event: ChannelStateMachine.Action, on id: UInt32) {
            switch event {
            case .openRequested(let open):
                precondition(!machine.isShuttingDown, "an open handed on while shutting down")
                acceptNext.toggle()
                guard !acceptNext, let service = open.parameters.service else {
                    perform((try? machine.refuse(channel: id, ProtocolError(.notPermitted, "fuzz"))) ?? .init())
                    return
                }
                for case .write(let frame)
                    in (try? machine.accept(channel: id, .init(window: 64, details: details(service)))) ?? .init()
                {
                    written(frame)
                }
            case .deliver(.data(let stream, let bytes)):
                if let frame = machine.consumed(channel: id, bytes: bytes.readableBytes) { written(frame) }
                var answer = bytes
                while let frame = try? machine.send(channel: id, data: &answer, on: stream) { written(frame) }
            case .deliver(.eof):
                if let frame = try? machine.sendEOF(channel: id) { written(frame) }
                if let frame = try? machine.send(channel: id, .fail(ProtocolError(.internal, "fuzz"))) {
                    written(frame)
                }
                if let frame = try? machine.sendClose(channel: id) { written(frame) }
            case .deliver(.message), .creditChanged, .channelFailed, .closed, .accepted, .refused, .write, .fail:
                break
            }
        }

        private func details(_ service: ChannelService) -> ChannelMessage.Accept.Details {
            switch service {
            case .exec: .exec(pid: 1)
            case .fileList: .fileList(kind: .file)
            case .echo, .fileGet, .filePut, .chat, .forward: .echo
            }
        }

        private func written(_ frame: Frame) {
            _ = frame.encoded(form: .channels)
        }
    }
}
