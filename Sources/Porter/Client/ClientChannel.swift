import NIOCore
import PorterProtocol

/// A channel this client opened, for async code: ``next()`` reads what the server sent,
/// ``write(_:)`` sends within the server's window, ``finish()`` sends eof and ``close()`` ends the channel.
///
/// Reading drives the window: the channel asks the connection for the server's data only while nothing it read is
/// waiting for ``next()``, so a reader that stops holds at most two of its windows in memory and stops the server's
/// sending on this channel alone. While the reader keeps up, a read is always asked for ahead, so ``next()`` waits
/// for data rather than first asking for it. One task reads at a time; writing may happen from another.
public struct ClientChannel: Sendable {
    /// The channel's child `Channel`, on the connection's event loop.
    let channel: any Channel
    private let reader: ChannelReader
    /// The write that returned before it was handed on, if it still is not.
    private let unfinishedWrite = Locked<EventLoopFuture<Void>?>(nil)

    /// Sets up `child`'s pipeline to be read through the returned value; called on its event loop, before the
    /// channel is active. With `maxHeldMessages`, the server's messages waiting unread are bounded: one more
    /// closes the channel, and ``next()`` throws once it has returned what came before.
    static func attach(to child: any Channel, maxHeldMessages: Int? = nil) throws -> ClientChannel {
        let reader = ChannelReader(channel: child)
        try child.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        try child.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        if let maxHeldMessages {
            try child.syncOptions?.setOption(PorterChildChannel.MaxHeldMessagesOption(), value: maxHeldMessages)
        }
        try child.pipeline.syncOperations.addHandler(ChannelReadHandler(reader: reader))
        return ClientChannel(channel: child, reader: reader)
    }

    private init(channel: any Channel, reader: ChannelReader) {
        self.channel = channel
        self.reader = reader
    }

    /// The next data, message or eof from the server; `nil` once the server has closed the channel.
    ///
    /// - Throws: the error that ended the channel or its connection.
    public func next() async throws -> ChannelInput? {
        try await reader.next()
    }

    /// ``next()``, with its failure as the ``PorterError`` a session reports.
    func receive() async throws(PorterError) -> ChannelInput? {
        do {
            return try await reader.next()
        } catch {
            throw ClientChannels.porterError(error)
        }
    }

    /// Sends `content`. While the channel is writable (the server's credit exceeds what waits) it returns at once;
    /// otherwise once `content` is handed to the connection. Either way it first waits for the write before it
    /// that returned at once, so that a writer never gets ahead of the credit by more than one write, however fast
    /// it loops. A write that fails after returning ends the channel, which the next call reports.
    public func write(_ content: ChannelContent) async throws {
        if let unfinished = unfinishedWrite.withLock({ $0 }) {
            try await unfinished.get()
        }
        guard channel.isWritable else {
            try await channel.writeAndFlush(content).get()
            return
        }
        let (channel, unfinishedWrite) = (self.channel, self.unfinishedWrite)
        let written = channel.eventLoop.makePromise(of: Void.self)
        unfinishedWrite.withLock { $0 = written.futureResult }
        // The write and the watch on its end in one turn of the event loop: one hop from a task, not two.
        let write = {
            channel.writeAndFlush(content, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                unfinishedWrite.withLock { if $0 === written.futureResult { $0 = nil } }
            }
        }
        if channel.eventLoop.inEventLoop {
            write()
        } else {
            channel.eventLoop.execute(write)
        }
    }

    /// Sends this side's eof: no more data follows (messages may).
    public func finish() async throws {
        try await channel.close(mode: .output).get()
    }

    /// Closes the channel; a pending ``next()`` then ends.
    public func close() {
        channel.close(promise: nil)
    }
}

/// What a ``ClientChannel``'s reader waits for, fed on the event loop by ``ChannelReadHandler``.
final class ChannelReader: Sendable {
    private struct State {
        var inputs = CircularBuffer<ChannelInput>()
        var waiter: CheckedContinuation<ChannelInput?, any Error>?
        var end: Result<Void, any Error>?
        /// A read is asked of the child and nothing was delivered since.
        var reading = false
    }

    private let channel: any Channel
    private let state = Locked(State())

    init(channel: any Channel) {
        self.channel = channel
    }

    func next() async throws -> ChannelInput? {
        try await withCheckedThrowingContinuation { continuation in
            enum Step {
                case answer(Result<ChannelInput?, any Error>)
                case read
                case wait
            }
            let step = state.withLock { state -> Step in
                if let input = state.inputs.popFirst() { return .answer(.success(input)) }
                switch state.end {
                case .success: return .answer(.success(nil))
                case .failure(let error): return .answer(.failure(error))
                case nil:
                    guard state.waiter == nil else {
                        return .answer(
                            .failure(PorterError(.configuration, "a channel is read by one task at a time")))
                    }
                    state.waiter = continuation
                    if state.reading { return .wait }
                    state.reading = true
                    return .read
                }
            }
            switch step {
            case .answer(let result):
                continuation.resume(with: result)
            case .read:
                let channel = self.channel
                if channel.eventLoop.inEventLoop {
                    channel.read()
                } else {
                    channel.eventLoop.execute { channel.read() }
                }
            case .wait:
                break
            }
        }
    }

    /// Called on the event loop.
    func deliver(_ input: ChannelInput) {
        let waiter = state.withLock { state -> CheckedContinuation<ChannelInput?, any Error>? in
            state.reading = false
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.inputs.append(input)
            return nil
        }
        waiter?.resume(returning: input)
    }

    /// Called on the event loop after a delivery: whether to ask for the next read now, since the reader has taken
    /// everything (it is waiting, or about to ask).
    func readAhead() -> Bool {
        state.withLock { state in
            guard state.inputs.isEmpty, state.end == nil, !state.reading else { return false }
            state.reading = true
            return true
        }
    }

    /// Called on the event loop: the channel ended, cleanly or with `error`. The first end counts.
    func end(_ result: Result<Void, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<ChannelInput?, any Error>? in
            if state.end == nil { state.end = result }
            defer { state.waiter = nil }
            return state.inputs.isEmpty ? state.waiter : nil
        }
        waiter?.resume(with: result.map { nil })
    }
}

/// The last handler of a ``ClientChannel``'s child: hands what arrives to its ``ChannelReader``, the peer's eof
/// included (a `NIOAsyncChannel` would end its sequence there, before the service's result).
final class ChannelReadHandler: ChannelInboundHandler {
    typealias InboundIn = ChannelContent

    private let reader: ChannelReader

    init(reader: ChannelReader) {
        self.reader = reader
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .data(let stream, let bytes): reader.deliver(.data(stream, bytes))
        case .message(let message): reader.deliver(.message(message))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if reader.readAhead() { context.read() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            reader.deliver(.eof)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reader.end(.failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        reader.end(.success(()))
        context.fireChannelInactive()
    }
}
