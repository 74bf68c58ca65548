import NIOCore

extension ConnectionStateMachine {
    /// What the connection must do after an input, in the order given.
    public enum Action: Sendable, Equatable {
        /// Write this handshake message to the peer.
        case write(ConnectionMessage)
        /// Write this frame to the peer (a connection message, or a frame of a channel).
        case send(Frame)
        /// The `welcome` just written is the last frame in the handshake form; move both directions
        /// of the connection to the channel form before the next frame is read or written.
        case switchForm
        /// Client, method `publickey`: sign `transcript` with `key` and give the signature to
        /// ``ConnectionStateMachine/signed(_:)`` (or the failure to ``ConnectionStateMachine/signingFailed(_:)``).
        case sign(key: SSHPublicKey, transcript: [UInt8])
        /// Server: a client's `auth` came to `attempt`; comes before the `ready` or error that answers it, so that
        /// the attempt can be recorded before the client learns the outcome.
        case authAttempt(ServerHandshake.Attempt)
        /// `ready` has been written (the action before): the client is authenticated with this protocol version.
        case authenticated(version: Int)
        /// What happened on a channel, for its local code (never a `write` or `fail`: those come as
        /// ``send(_:)`` and ``fail(_:)``).
        case channel(UInt32, ChannelStateMachine.Action)
        /// Call ``ConnectionStateMachine/deadlineReached(now:)`` at this instant, instead of any timer asked for
        /// before.
        case scheduleTimer(at: NIODeadline)
        /// The timer asked for before is no longer needed.
        case cancelTimer
        /// Write this error as a fatal `error` message, then close; the machine reads nothing more.
        case fail(ProtocolError)
        /// Client: close with this error without writing it (the server sent it, or the server failed the
        /// handshake); the machine reads nothing more.
        case end(ProtocolError)
        /// Client: the server answered the `ping` with this id.
        case pong(UInt64)
        /// Server: run this global request, after those delivered before it, and answer it with
        /// ``ConnectionStateMachine/answer(global:error:)``.
        case global(ConnectionMessage.GlobalRequest)
        /// Client: the server answered the global request with this id: `global.ok` (`nil`) or `global.fail`.
        case globalAnswered(UInt64, ProtocolError?)
        /// Client: the server is shutting down and gives the channels in use this many seconds; from now on
        /// ``ConnectionStateMachine/open(_:)`` throws ``ChannelStateMachine/Refusal/shuttingDown``.
        case shutdownAnnounced(grace: Double)
    }
}
