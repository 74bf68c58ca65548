import NIOCore
import PorterProtocol

/// The exec service on a channel (docs/PROTOCOL.md section 5.4.1): joins a ``RunningCommand``'s pipes to
/// its Porter channel, all on the connection's event loop, with no task between them.
///
/// - The client's data (stream 0) goes to the command's input. The channel is read only while the input pipe is
///   writable, so what the server holds of a client's input is bounded by the channel's window. The client's eof
///   closes the input (on a terminal the client sends Ctrl-D instead).
/// - The command's output goes out on stream 1, its error output on stream 2; each pipe is read only while the
///   channel is writable, so a client that stops reading leaves the rest in the pipe, where it stops the command.
/// - `exec.signal` and `exec.resize` reach the command; a signal the server does not accept is answered `reject`.
/// - When the command has exited and both outputs have ended (or ``ExecConfiguration/outputDrainGrace`` has
///   passed after the exit with no output read and none held back for the client), the channel sends eof,
///   `exec.exit` and close. Input is no longer read after the exit: what the client sends then waits within its
///   window until the close, and is dropped with the channel.
/// - If the channel closes first (the client closed it, or the connection ended), the command is terminated.
final class CommandGlue: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    private let command: RunningCommand
    private var context: ChannelHandlerContext?
    /// The command's standard input still takes bytes.
    private var inputOpen: Bool
    /// A read of the channel waits for the input pipe to become writable.
    private var readPending = false
    /// The last write to the command's input: its eof goes after it.
    private var lastInputWrite: EventLoopFuture<Void>?
    /// Output streams whose reads wait for the channel to become writable.
    private var heldOutputs: [any Channel] = []
    /// Output streams that have not ended.
    private var openOutputs: Int
    private var exit: CommandExit?
    private var drainTimer: Scheduled<Void>?
    /// Output was read since the drain timer was last set.
    private var outputSinceDrainCheck = false
    /// Eof, `exec.exit` and close are on their way, or the channel has closed.
    private var finished = false

    /// Glues `command` to the channel whose pipeline this handler joins; the command's streams must be on that
    /// channel's event loop, and their reads must not have started.
    init(command: RunningCommand) {
        self.command = command
        self.inputOpen = command.input != nil
        self.openOutputs = command.errors == nil ? 1 : 2
    }

    /// Sets up the command's pipes for `child`, which must not be active yet; on `child`'s event loop.
    static func attach(_ command: RunningCommand, to child: any Channel) throws {
        child.eventLoop.preconditionInEventLoop()
        precondition(command.output.eventLoop.inEventLoop, "a command's pipes are on its channel's event loop")
        let glue = CommandGlue(command: command)
        do {
            try child.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            try child.pipeline.syncOperations.addHandler(glue)
            try command.output.pipeline.syncOperations.addHandler(
                CommandStreamHandler(glue: glue, stream: .output, watchesInput: command.onTerminal))
            if let errors = command.errors {
                try errors.pipeline.syncOperations.addHandler(CommandStreamHandler(glue: glue, stream: .error))
            }
            // A command that closed its input at once has made that channel close: there is nothing to watch.
            if let input = command.input, !command.onTerminal, input.isActive {
                try input.pipeline.syncOperations.addHandler(CommandStreamHandler(glue: glue, watchesInput: true))
            }
        } catch {
            command.terminate()
            glue.closeStreams()
            throw error
        }
        child.closeFuture.assumeIsolated().whenComplete { _ in glue.channelEnded() }
        command.exit.assumeIsolated().whenSuccess { glue.exited($0) }
        command.child.releaseOutput()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        // The channel is accepted: the command's output may flow.
        for stream in [command.output, command.errors] { stream?.read() }
        context.fireChannelActive()
    }

    // MARK: - From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .data(_, let bytes):
            // The state machine lets data through on stream 0 only.
            guard inputOpen, exit == nil, let input = command.input else { return }
            let written = input.write(bytes)
            lastInputWrite = written
            written.assumeIsolated().whenFailure { [self] _ in
                // The command closed its input: what else arrives is dropped, as a pipe with no reader would.
                inputOpen = false
                resumeReading()
            }
        case .message(.execSignal(let request)):
            do throws(ProtocolError) {
                try command.signal(request.name)
            } catch {
                context.writeAndFlush(wrapOutboundOut(.message(.reject(error))), promise: nil)
            }
        case .message(.execResize(let size)):
            command.resize(rows: size.rows, cols: size.cols)
        case .message:
            // The state machine lets no other message of the client's reach an exec channel.
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if inputOpen { command.input?.flush() }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        // After the exit nothing more is read: the client's input waits, within its window, for the close that
        // follows, rather than being taken and dropped.
        if exit != nil || (inputOpen && !(command.input?.isWritable ?? true)) {
            readPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // On a terminal the client ends input with the terminal's EOF character; the terminal stays open.
        guard !command.onTerminal, inputOpen, let input = command.input else { return }
        inputOpen = false
        // The eof may come in the same burst as the last data, before the burst's flush: flush now. NIO fails
        // writes still queued when output closes, so the eof waits for the last one.
        input.flush()
        let close = { input.close(mode: .output, promise: nil) }
        if let lastInputWrite {
            lastInputWrite.assumeIsolated().whenComplete { _ in close() }
        } else {
            close()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            let held = heldOutputs
            heldOutputs = []
            for stream in held { stream.read() }
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - From the command

    /// Output from the command, on `stream`.
    fileprivate func output(_ bytes: ByteBuffer, on stream: Frame.Stream) {
        guard let context, !finished else { return }
        outputSinceDrainCheck = true
        context.write(wrapOutboundOut(.data(stream, bytes)), promise: nil)
    }

    /// A burst of output from `channel` has been read: it is sent, and the next read asked for if the channel can
    /// take more.
    fileprivate func outputReadComplete(from channel: any Channel) {
        guard let context, !finished else { return }
        context.flush()
        if context.channel.isWritable {
            channel.read()
        } else {
            heldOutputs.append(channel)
        }
    }

    /// One of the command's output streams ended.
    fileprivate func outputEnded() {
        openOutputs -= 1
        finishIfDone()
    }

    /// The input pipe's writability changed.
    fileprivate func inputWritabilityChanged() {
        if command.input?.isWritable ?? true { resumeReading() }
    }

    private func resumeReading() {
        guard readPending, exit == nil, let context else { return }
        readPending = false
        context.read()
    }

    private func exited(_ exit: CommandExit) {
        self.exit = exit
        if !command.onTerminal { command.input?.close(promise: nil) }
        inputOpen = false
        if openOutputs > 0, !finished { scheduleDrainCheck() }
        finishIfDone()
    }

    /// Something outside the group may hold the output open after the exit: stop waiting for it once a grace
    /// period passes with no output read and none held back for the client, so a slow client never loses the end
    /// of the output.
    private func scheduleDrainCheck() {
        outputSinceDrainCheck = false
        let grace = TimeLimit.timeAmount(seconds: command.configuration.outputDrainGrace)
        drainTimer = command.output.eventLoop.assumeIsolated().scheduleTask(in: grace) { [self] in
            guard !finished else { return }
            if outputSinceDrainCheck || !heldOutputs.isEmpty {
                scheduleDrainCheck()
            } else {
                closeStreams()
            }
        }
    }

    /// Sends eof, the exit and close once the command has exited and its output has ended.
    private func finishIfDone() {
        guard let exit, openOutputs <= 0, !finished, let context else { return }
        finished = true
        drainTimer?.cancel()
        closeStreams()
        context.finishChannel(with: .execExit(exit.report))
    }

    /// The channel closed: a command still running is ended as a broken connection ends it.
    private func channelEnded() {
        finished = true
        drainTimer?.cancel()
        context = nil
        if exit == nil { command.terminate() }
        closeStreams()
    }

    private func closeStreams() {
        for stream in [command.output, command.errors, command.input] { stream?.close(promise: nil) }
    }
}

/// One of a running command's pipes (or its terminal) in a ``CommandGlue``: output read on demand and handed to
/// the glue, and the input's writability.
private final class CommandStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let glue: CommandGlue
    /// The sub-stream the output goes out on; `nil` for the input pipe.
    private let stream: Frame.Stream?
    private let watchesInput: Bool

    init(glue: CommandGlue, stream: Frame.Stream? = nil, watchesInput: Bool = false) {
        self.glue = glue
        self.stream = stream
        self.watchesInput = watchesInput
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let stream else { return }
        glue.output(unwrapInboundIn(data), on: stream)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if stream != nil { glue.outputReadComplete(from: context.channel) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if stream != nil { glue.outputEnded() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if watchesInput { glue.inputWritabilityChanged() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A terminal's master reports EIO once every process has closed the terminal; the channel then closes,
        // which ends the stream. Any other read error ends it the same way.
    }
}

/// An exec channel whose program could not be started: the reason on standard error, then eof, `exec.exit` and
/// close, as a shell would report it.
final class CommandNotStartedHandler: ChannelInboundHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    private let message: ByteBuffer
    private let exit: ControlMessage.ExecExit

    init(message: ByteBuffer, exit: ControlMessage.ExecExit) {
        self.message = message
        self.exit = exit
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.data(.error, message)), promise: nil)
        context.finishChannel(with: .execExit(exit))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing runs to take the client's input or signals.
    }
}

extension ChannelHandlerContext {
    /// Ends this side of a channel: eof behind what was written, then `result`, then close
    /// (``PorterChildChannel/Finish``).
    func finishChannel(with result: ChannelMessage) {
        flush()
        triggerUserOutboundEvent(PorterChildChannel.Finish(result: result), promise: nil)
    }
}
