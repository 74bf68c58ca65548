import NIOCore
import PorterProtocol
import Synchronization

/// One channel of a connection as a NIO `Channel` (docs/design/protocol-2.md, section 8.2).
///
/// Its pipeline reads and writes ``ChannelContent``. The peer's eof arrives as `ChannelEvent.inputClosed` (or
/// closes the channel when remote half-closure is not allowed), the peer's close as the channel going inactive;
/// `close(mode: .output)` sends this side's eof and `close()` its close.
///
/// The multiplexer (``ChildChannelParent``) owns the channel and keeps the protocol's state machines; the channel
/// keeps what its pipeline has not read yet and what it wrote that the peer's credit does not allow yet:
///
/// - **Reads** honour `autoRead` and `read()`. The peer's data is reported ``ChildChannelParent/consumed(channel:bytes:)``
///   when it is delivered to the pipeline, so the peer's credit is renewed only as fast as the pipeline reads: a
///   handler that turns `autoRead` off stops its channel alone, and what waits here stays within the window. A
///   handler that hands data on to slower work reports it consumed itself when that work is done
///   (``ConsumptionOption``, ``Consumed``).
/// - **Writes** wait here until flushed and the channel is active, then go to the multiplexer in order; data beyond
///   the credit (and anything written after it) waits for ``creditChanged(_:)``. A write's promise completes when
///   its last frame is handed to the connection.
/// - **Writability** is `queued data bytes < credit && connection writable`.
///
/// Every method runs on the connection's event loop.
final class PorterChildChannel {
    /// The channel id on the connection.
    let id: UInt32
    /// The connection's allocator.
    let allocator: ByteBufferAllocator
    /// The connection's event loop.
    let eventLoop: any EventLoop

    private let connection: any Channel
    // The multiplexer owns its children; a strong reference would be a cycle.
    private weak var multiplexer: (any ChildChannelParent)?
    private var _pipeline: ChannelPipeline!
    private let closePromise: EventLoopPromise<Void>
    // Read from any thread through `isActive` and `isWritable`; written on the event loop only.
    private let activeFlag = Atomic<Bool>(false)
    private let writableFlag = Atomic<Bool>(true)

    private var lifecycle = Lifecycle.registered
    private var autoRead = true
    private var allowRemoteHalfClosure = false
    private var consumption = Consumption.onDelivery
    private var maxHeldMessages: Int?
    /// The messages in `inbound`.
    private var heldMessages = 0
    /// Data delivered to the pipeline and not yet reported consumed, while ``Consumption`` is `.reported`.
    private var unreported = 0

    /// What the peer sent that the pipeline has not read yet.
    private var inbound = CircularBuffer<Inbound>()
    /// The pipeline asked to read and nothing was delivered since.
    private var unsatisfiedRead = false
    /// `inbound` is being delivered: a `read()` from a handler meanwhile must not deliver again.
    private var delivering = false

    /// Writes not yet handed to the multiplexer, in order; the first `flushedWrites` of them are flushed.
    private var pendingWrites = CircularBuffer<PendingWrite>()
    private var flushedWrites = 0
    /// Data bytes in `pendingWrites`.
    private var queuedBytes = 0
    /// The peer's credit as the multiplexer last reported it, less the data handed on since.
    private var credit = 0
    private var parentWritable: Bool
    /// `pendingWrites` is being handed on: a flush from a promise's callback meanwhile must not hand on again.
    private var handingOn = false
    /// `close(mode: .output)` was called: no more data may be written.
    private var outputClosed = false
    /// A server's `file.put` channel: whether its file took its name, which the audit trail asks once the channel
    /// has closed (an upload closed while its rename was under way is in place all the same).
    var upload: UploadCommit?

    /// Creates the channel of `id`, registered but not active until ``activate(credit:)``.
    ///
    /// Must be called on the connection's event loop.
    init(id: UInt32, parent: any Channel, multiplexer: any ChildChannelParent) {
        parent.eventLoop.preconditionInEventLoop()
        self.id = id
        self.connection = parent
        self.multiplexer = multiplexer
        self.allocator = parent.allocator
        self.eventLoop = parent.eventLoop
        self.closePromise = parent.eventLoop.makePromise()
        self.parentWritable = parent.isWritable
        self._pipeline = ChannelPipeline(channel: self)
        self._pipeline.syncOperations.fireChannelRegistered()
    }
}

// Every stored `var` is read and written on `eventLoop` only: the `ChannelCore` methods are called by the pipeline on
// its event loop, and every other method that touches them (the multiplexer's calls, the options) begins with
// `eventLoop.preconditionInEventLoop()`; `setOption` and `getOption` hop to the event loop first. What may be read
// from other threads is immutable (`id`, `allocator`, `eventLoop`, `connection`, `closePromise`, `_pipeline`, set in
// `init` and never changed) or atomic (`activeFlag`, `writableFlag`).
extension PorterChildChannel: @unchecked Sendable {}

// MARK: - Channel

extension PorterChildChannel: Channel {
    var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }

    var pipeline: ChannelPipeline { _pipeline }

    var localAddress: SocketAddress? { connection.localAddress }

    var remoteAddress: SocketAddress? { connection.remoteAddress }

    /// The connection.
    var parent: (any Channel)? { connection }

    var isWritable: Bool { writableFlag.load(ordering: .relaxed) }

    var isActive: Bool { activeFlag.load(ordering: .relaxed) }

    var _channelCore: any ChannelCore { self }

    var syncOptions: (any NIOSynchronousChannelOptions)? { SynchronousOptions(channel: self) }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if eventLoop.inEventLoop {
            do {
                return eventLoop.makeSucceededFuture(try setOption0(option, value: value))
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
        return eventLoop.submit { try self.setOption0(option, value: value) }
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if eventLoop.inEventLoop {
            do {
                return eventLoop.makeSucceededFuture(try getOption0(option))
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
        return eventLoop.submit { try self.getOption0(option) }
    }

    /// Sets `autoRead`, `allowRemoteHalfClosure`, ``ConsumptionOption`` or ``MaxHeldMessagesOption``; any other
    /// option is `ChannelError.operationUnsupported`.
    func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        eventLoop.preconditionInEventLoop()
        switch option {
        case is ChannelOptions.Types.AutoReadOption:
            let wasOn = autoRead
            autoRead = value as! Bool
            // As a socket does: turning autoRead back on starts reading again.
            if autoRead, !wasOn, lifecycle == .active {
                pipeline.syncOperations.read()
            }
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption:
            allowRemoteHalfClosure = value as! Bool
        case is MaxHeldMessagesOption:
            maxHeldMessages = value as! Int?
        case is ConsumptionOption:
            consumption = value as! Consumption
            if consumption == .onDelivery, unreported > 0 {
                if lifecycle != .closed { report(consumed: unreported) }
                unreported = 0
            }
        default:
            throw ChannelError.operationUnsupported
        }
    }

    /// Reads `autoRead`, `allowRemoteHalfClosure`, ``ConsumptionOption`` or ``MaxHeldMessagesOption``; any other
    /// option is `ChannelError.operationUnsupported`.
    func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        eventLoop.preconditionInEventLoop()
        switch option {
        case is ChannelOptions.Types.AutoReadOption:
            return autoRead as! Option.Value
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption:
            return allowRemoteHalfClosure as! Option.Value
        case is ConsumptionOption:
            return consumption as! Option.Value
        case is MaxHeldMessagesOption:
            return maxHeldMessages as! Option.Value
        default:
            throw ChannelError.operationUnsupported
        }
    }
}

// MARK: - ChannelCore

extension PorterChildChannel: ChannelCore {
    func localAddress0() throws -> SocketAddress {
        guard let address = connection.localAddress else { throw ChannelError.unknownLocalAddress }
        return address
    }

    func remoteAddress0() throws -> SocketAddress {
        guard let address = connection.remoteAddress else { throw ChannelError.ioOnClosedChannel }
        return address
    }

    func register0(promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func registerAlreadyConfigured0(promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard lifecycle != .closed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard let content = tryUnwrapData(data, as: ChannelContent.self) else {
            if let encoded = tryUnwrapData(data, as: EncodedMessage.self) {
                pendingWrites.append(.message(encoded.message, encoded.payload, promise))
            } else {
                promise?.fail(ChannelError.operationUnsupported)
            }
            return
        }
        switch content {
        case .data(let stream, let bytes):
            // Only data ends with eof: the service's messages (a result, a close's reason) may still follow it.
            guard !outputClosed else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            pendingWrites.append(.data(stream, bytes, promise))
            queuedBytes += bytes.readableBytes
            updateWritability()
        case .message(let message) where message.goesAheadOfHeldData && lifecycle == .active:
            // A signal must not wait behind input the peer's window holds back.
            guard let multiplexer else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            do {
                try multiplexer.write(channel: id, message: message, payload: nil, promise: promise)
                multiplexer.flushConnection()
            } catch {
                promise?.fail(Self.error(for: error))
            }
        case .message(let message):
            pendingWrites.append(.message(message, nil, promise))
        }
    }

    func flush0() {
        eventLoop.preconditionInEventLoop()
        flushedWrites = pendingWrites.count
        handOnFlushedWrites()
    }

    func read0() {
        eventLoop.preconditionInEventLoop()
        guard lifecycle != .closed else { return }
        unsatisfiedRead = true
        deliverIfRead()
    }

    func close0(error: any Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        switch mode {
        case .input:
            promise?.fail(ChannelError.operationUnsupported)
        case .output:
            guard lifecycle != .closed else {
                promise?.fail(ChannelError.alreadyClosed)
                return
            }
            guard !outputClosed else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            outputClosed = true
            // The eof goes behind the data written before it; closing output flushes, as NIO's sockets do.
            pendingWrites.append(.eof(promise))
            flush0()
        case .all:
            closeAll(error: error, promise: promise)
        }
    }

    /// Takes ``Consumed`` and ``Finish``; any other event is `ChannelError.operationUnsupported`.
    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        if let finish = event as? Finish {
            self.finish(with: finish.result, promise: promise)
            return
        }
        guard let consumed = event as? Consumed else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        let bytes = min(max(consumed.bytes, 0), unreported)
        unreported -= bytes
        if lifecycle != .closed, bytes > 0 {
            report(consumed: bytes)
        }
        promise?.succeed()
    }

    /// ``Finish``: eof (unless sent), `result` and close, behind what was written and flushed with it.
    private func finish(with result: ChannelMessage, promise: EventLoopPromise<Void>?) {
        guard lifecycle != .closed else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        if !outputClosed {
            outputClosed = true
            pendingWrites.append(.eof(nil))
        }
        pendingWrites.append(.message(result, nil, nil))
        pendingWrites.append(.close(promise))
        flush0()
    }

    /// Tells the multiplexer `bytes` of the peer's data are consumed.
    private func report(consumed bytes: Int) {
        multiplexer?.consumed(channel: id, bytes: bytes)
    }

    func channelRead0(_ data: NIOAny) {
        // Nothing the pipeline did not take has anywhere to go.
    }

    func errorCaught0(error: any Error) {
        // As above: an error no handler took ends here.
    }
}

// MARK: - Calls from the multiplexer

extension PorterChildChannel {
    /// The channel is accepted (on the server, once its service accepted it; on the client, when `accept` arrived)
    /// and the peer granted `credit` bytes: the channel becomes active and sends what was written before.
    func activate(credit: UInt32) {
        eventLoop.preconditionInEventLoop()
        guard lifecycle == .registered else { return }
        lifecycle = .active
        self.credit = Int(credit)
        activeFlag.store(true, ordering: .relaxed)
        pipeline.syncOperations.fireChannelActive()
        guard lifecycle == .active else { return }
        updateWritability()
        handOnFlushedWrites()
        if autoRead {
            pipeline.syncOperations.read()
        } else {
            deliverIfRead()
        }
    }

    /// Data or a message from the peer; it waits until the pipeline reads.
    func receive(_ content: ChannelContent) {
        eventLoop.preconditionInEventLoop()
        guard lifecycle != .closed else { return }
        if case .message(let message) = content, message.goesAheadOfHeldData, lifecycle == .active, !delivering {
            // A signal or a resize reaches the pipeline at once, not behind data it has not read (input waiting
            // for a command that does not read it), as SSH's channel requests do; it needs no read.
            pipeline.syncOperations.fireChannelRead(NIOAny(content))
            pipeline.syncOperations.fireChannelReadComplete()
            return
        }
        if case .message = content {
            if let maxHeldMessages, heldMessages >= maxHeldMessages {
                // What waited goes to the pipeline first, then why the channel ends.
                if !delivering { deliverInbound() }
                let error = TooManyHeldMessages(limit: maxHeldMessages)
                pipeline.syncOperations.fireErrorCaught(error)
                close0(error: error, mode: .all, promise: nil)
                return
            }
            heldMessages += 1
        }
        inbound.append(.content(content))
        deliverIfRead()
    }

    /// The peer's eof: after what arrived before it is read, `ChannelEvent.inputClosed` if remote half-closure is
    /// allowed, else the channel closes (as NIO's sockets do).
    func receiveEOF() {
        eventLoop.preconditionInEventLoop()
        guard lifecycle != .closed else { return }
        inbound.append(.eof)
        deliverIfRead()
    }

    /// The peer's whole credit on this channel is now `credit` (it granted more): held writes go on.
    func creditChanged(_ credit: UInt32) {
        eventLoop.preconditionInEventLoop()
        guard lifecycle == .active else { return }
        self.credit = Int(credit)
        handOnFlushedWrites()
        updateWritability()
    }

    /// The connection's writability changed.
    func parentWritabilityChanged(_ writable: Bool) {
        eventLoop.preconditionInEventLoop()
        guard writable != parentWritable else { return }
        parentWritable = writable
        updateWritability()
        if lifecycle == .active { pipeline.syncOperations.fireUserInboundEventTriggered(ConnectionWritability()) }
    }

    /// Fired into the pipeline when ``isConnectionWritable`` changes.
    struct ConnectionWritability: Sendable {}

    /// Whether the connection takes more writes without queueing them past its high-water mark: NIO's own flag,
    /// right after each write. A service that sends only messages, which no window holds back (chat's events),
    /// follows this rather than the channel's own writability, which is about its data and the peer's credit.
    var isConnectionWritable: Bool {
        connection.isWritable
    }

    /// The channel ended from the connection's side: the peer's close arrived and was answered, the channel was
    /// refused, the peer broke a rule of the channel's service, or the connection ended.
    ///
    /// What the peer sent before is delivered (read or not), pending writes fail, and the channel goes inactive.
    /// An `error` other than `ChannelError.eof` is fired as `errorCaught` first. Nothing happens if the channel is
    /// already closed (it closed itself).
    func closed(error: (any Error)?) {
        eventLoop.preconditionInEventLoop()
        guard lifecycle != .closed else { return }
        let wasActive = lifecycle == .active
        lifecycle = .closed
        deliverInbound()
        failPendingWrites(error ?? ChannelError.ioOnClosedChannel)
        if let error, (error as? ChannelError) != .eof {
            pipeline.syncOperations.fireErrorCaught(error)
        }
        becomeInactive(wasActive: wasActive)
    }
}

// MARK: - Reads, writes and closing

extension PorterChildChannel {
    /// Delivers what is buffered if the pipeline asked to read, then reads again if `autoRead` is on.
    private func deliverIfRead() {
        guard unsatisfiedRead, lifecycle == .active, !delivering, !inbound.isEmpty else { return }
        unsatisfiedRead = false
        deliverInbound()
        if autoRead, lifecycle == .active {
            pipeline.syncOperations.read()
        }
    }

    /// Fires everything in `inbound` into the pipeline, reporting data as consumed, then `channelReadComplete`.
    ///
    /// The peer's eof without remote half-closure stops here and closes the channel; once closed, data is not
    /// reported consumed (no window frame follows this side's close).
    private func deliverInbound() {
        var delivered = false
        var closeAtEOF = false
        delivering = true
        delivery: while let next = inbound.popFirst() {
            switch next {
            case .content(let content):
                switch content {
                case .data(_, let bytes) where lifecycle != .closed:
                    switch consumption {
                    case .onDelivery: report(consumed: bytes.readableBytes)
                    case .reported: unreported += bytes.readableBytes
                    }
                case .data: break
                case .message: heldMessages -= 1
                }
                delivered = true
                pipeline.syncOperations.fireChannelRead(NIOAny(content))
            case .eof:
                if allowRemoteHalfClosure {
                    delivered = true
                    pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                } else if lifecycle != .closed {
                    closeAtEOF = true
                    break delivery
                }
            }
        }
        delivering = false
        if delivered {
            pipeline.syncOperations.fireChannelReadComplete()
        }
        if closeAtEOF {
            close0(error: ChannelError.eof, mode: .all, promise: nil)
        }
    }

    /// Hands the flushed writes to the multiplexer in order, as far as the credit allows, then flushes the
    /// connection.
    private func handOnFlushedWrites() {
        guard lifecycle == .active, !handingOn, let multiplexer else { return }
        handingOn = true
        var wrote = false
        handOn: while lifecycle == .active, flushedWrites > 0, let write = pendingWrites.popFirst() {
            flushedWrites -= 1
            queuedBytes -= write.dataBytes
            switch write {
            case .data(let stream, var bytes, let promise):
                let size = bytes.readableBytes
                let written: Bool
                do {
                    written = try multiplexer.write(channel: id, data: &bytes, on: stream, promise: promise)
                } catch {
                    promise?.fail(Self.error(for: error))
                    continue
                }
                let taken = size - bytes.readableBytes
                credit = max(0, credit - taken)
                wrote = wrote || written
                if bytes.readableBytes > 0 {
                    if lifecycle == .active {
                        // The rest waits for credit, and so does everything written after it.
                        pendingWrites.prepend(.data(stream, bytes, promise))
                        flushedWrites += 1
                        queuedBytes += bytes.readableBytes
                    } else {
                        promise?.fail(ChannelError.ioOnClosedChannel)
                    }
                    break handOn
                }
                // Written whole, the last frame's write has the promise; nothing written, there was nothing to write.
                if !written { promise?.succeed() }
            case .message(let message, let payload, let promise):
                do {
                    try multiplexer.write(channel: id, message: message, payload: payload, promise: promise)
                    wrote = true
                } catch {
                    promise?.fail(Self.error(for: error))
                }
            case .eof(let promise):
                multiplexer.writeEOF(channel: id)
                wrote = true
                promise?.succeed()
                pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
            case .close(let promise):
                // Flushes the connection, with what was handed on before it.
                closeAll(error: ChannelError.alreadyClosed, promise: promise)
                wrote = false
            }
        }
        handingOn = false
        if wrote {
            multiplexer.flushConnection()
        }
        updateWritability()
    }

    /// This side's close: queued writes fail, the multiplexer sends `close`, and the channel is inactive at once.
    private func closeAll(error: any Error, promise: EventLoopPromise<Void>?) {
        guard lifecycle != .closed else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        let wasActive = lifecycle == .active
        lifecycle = .closed
        inbound.removeAll()
        heldMessages = 0
        failPendingWrites(error)
        if let multiplexer {
            multiplexer.writeClose(channel: id)
            multiplexer.flushConnection()
        }
        promise?.succeed()
        becomeInactive(wasActive: wasActive)
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites.removeAll()
        flushedWrites = 0
        queuedBytes = 0
        for write in writes {
            write.promise?.fail(error)
        }
    }

    private func becomeInactive(wasActive: Bool) {
        activeFlag.store(false, ordering: .relaxed)
        if wasActive {
            pipeline.syncOperations.fireChannelInactive()
        }
        pipeline.syncOperations.fireChannelUnregistered()
        // Later, as NIO's own channels do: handlers may still be walking the pipeline.
        eventLoop.execute {
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed()
        }
    }

    /// Fires `channelWritabilityChanged` when `queuedBytes < credit && parentWritable` changes. Until the channel is
    /// active it stays writable: writes wait for `activate` anyway.
    private func updateWritability() {
        guard lifecycle == .active else { return }
        let writable = queuedBytes < credit && parentWritable
        guard writable != writableFlag.load(ordering: .relaxed) else { return }
        writableFlag.store(writable, ordering: .relaxed)
        pipeline.syncOperations.fireChannelWritabilityChanged()
    }

    /// The error a write the state machine refused fails with: NIO's for a closed channel or output, else the
    /// refusal itself.
    private static func error(for refusal: ChannelStateMachine.Refusal) -> any Error {
        switch refusal {
        case .outputClosed: ChannelError.outputClosed
        case .closed: ChannelError.ioOnClosedChannel
        case .notAccepted, .notAllowed, .tooManyChannels, .shuttingDown: refusal
        }
    }
}
