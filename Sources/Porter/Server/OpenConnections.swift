import NIOCore

/// A server's open native connections, so that shutting down can reach them all: an idle one has no task that
/// cancellation would reach.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Whether the server is shutting down: a connection added now is closed at once.
        var shuttingDown = false
        /// Who waits for the last connection to close, once shutting down.
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    /// Registers `channel` until it closes; once shutting down, closes it instead.
    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let added = state.withLock { state in
            if !state.shuttingDown { state.channels[key] = channel }
            return !state.shuttingDown
        }
        guard added else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { _ = $0.channels.removeValue(forKey: key) }
            finishIfEmpty()
        }
    }

    /// How many connections are open.
    var count: Int { state.withLock { $0.channels.count } }

    /// Tells every open connection that the server is shutting down, with `grace` for the channels in use
    /// (``ServerShutdown``); a second call ends the grace at once. Connections added later are closed.
    func shutDown(grace: TimeAmount) {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
        let event = ServerShutdown(grace: grace)
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(event) }
        // A connection that did not close itself in time (its error message never left) is closed regardless.
        channels.first?.eventLoop.scheduleTask(in: grace + Self.backstop) { [self] in closeAll() }
        finishIfEmpty()
    }

    /// How long after the end of a shutdown's grace period a connection still open is closed without its error
    /// message having left: twice the time ``ChannelMultiplexer/closeGrace`` gives such a message.
    static let backstop = ChannelMultiplexer.closeGrace * 2

    /// Closes every open connection, and any added later.
    func closeAll() {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
        finishIfEmpty()
    }

    /// Returns once shutting down and every connection has closed; cancellation ends the grace period at once (a
    /// second ``shutDown(grace:)``).
    func closed() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state in
                    guard !(state.shuttingDown && state.channels.isEmpty) else { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            shutDown(grace: .zero)
        }
    }

    /// Resumes whoever waits in ``closed()`` once shutting down and every connection has closed.
    private func finishIfEmpty() {
        let waiting = state.withLock { state in
            guard state.shuttingDown, state.channels.isEmpty else { return [CheckedContinuation<Void, Never>]() }
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
