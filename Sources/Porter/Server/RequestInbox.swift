import NIOCore
import PorterProtocol

/// The frames of one busy spell of a connection: passed from its event loop, where ``ConnectionDispatcher`` reads
/// them, to the task serving its requests.
///
/// The connection's ``ConnectionStateMachine`` has already seen every frame: it hands the inbox a request's frames,
/// decoded once, and its answers to pings, which the inbox writes when the task reaches them, so that a `pong`
/// follows the answers to the requests before its `ping`. A request never sees a keepalive or a ping.
///
/// A spell starts with a request that arrives while the connection is idle and ends when the task, between two
/// requests, finds nothing more to serve: the inbox is then retired, the task ends, and the next request starts
/// a new spell with a new inbox. An idle connection therefore has no task and no inbox.
///
/// The inbox holds at most ``ServerConfiguration/readAheadFrames`` frames and about
/// ``ServerConfiguration/readAheadBytes`` bytes of payload: past either, the dispatcher stops reading from the
/// socket until the task has taken all but a quarter of them.
final class RequestInbox: Sendable {
    /// What ``push(_:)`` did with a frame.
    enum Push: Equatable {
        /// The frame is queued; with `pauseReading`, the queue is full and reading should stop until the
        /// inbox calls its `resumeReading`.
        case queued(pauseReading: Bool)
        /// The spell is over: the frame starts a new one.
        case retired
    }

    /// What waits in the inbox.
    private enum Entry {
        /// A frame of a request.
        case request(DeliveredFrame)
        /// The connection's answer to a ping, written when the task reaches it.
        case answer(Frame)

        var bytes: Int {
            switch self {
            case .request(let delivered): delivered.frame.payload.readableBytes
            case .answer(let frame): frame.payload.readableBytes
            }
        }
    }

    private struct State {
        var entries = CircularBuffer<Entry>(initialCapacity: 4)
        /// Payload bytes of the queued frames.
        var bytes = 0
        var waiter: CheckedContinuation<Entry?, any Error>?
        var retired = false
        /// Why no more frames will come: `nil` while the connection is open, `.success` when it closed.
        var end: Result<Void, any Error>?
        var readingPaused = false
        var cancelled = false
    }

    private let state = Locked(State())
    private let readAhead: Int
    private let readAheadBytes: Int
    private let answer: @Sendable (Frame) -> Void
    private let resumeReading: @Sendable () -> Void

    /// Creates the inbox of a spell that starts with `first`.
    ///
    /// - Parameters:
    ///   - answer: writes the connection's answer to a ping (see ``push(answer:)``) when the task reaches it.
    ///   - resumeReading: called, on any thread, when a full inbox has drained enough to read again.
    init(
        first: DeliveredFrame, readAhead: Int, readAheadBytes: Int, answer: @escaping @Sendable (Frame) -> Void,
        resumeReading: @escaping @Sendable () -> Void
    ) {
        self.readAhead = readAhead
        self.readAheadBytes = readAheadBytes
        self.answer = answer
        self.resumeReading = resumeReading
        state.withLock { state in
            state.entries.append(.request(first))
            state.bytes = first.frame.payload.readableBytes
        }
    }

    /// Adds a request's frame the dispatcher has read.
    func push(_ delivered: DeliveredFrame) -> Push {
        push(.request(delivered))
    }

    /// Adds the connection's answer to a ping, to be written after the answers to the frames queued before it.
    func push(answer frame: Frame) -> Push {
        push(.answer(frame))
    }

    private func push(_ entry: Entry) -> Push {
        let (push, waiter) = state.withLock { state -> (Push, CheckedContinuation<Entry?, any Error>?) in
            guard !state.retired else { return (.retired, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.queued(pauseReading: false), waiter)
            }
            // A frame that waits must not keep the decoder's whole read buffer alive.
            var waiting = entry
            if case .request(var delivered) = entry {
                delivered.frame.payload = delivered.frame.payload.compacted()
                waiting = .request(delivered)
            }
            state.entries.append(waiting)
            state.bytes += entry.bytes
            if state.entries.count >= readAhead || state.bytes >= readAheadBytes { state.readingPaused = true }
            return (.queued(pauseReading: state.readingPaused), nil)
        }
        waiter?.resume(returning: entry)
        return push
    }

    /// No more frames will come: the connection closed (`.success`) or failed. The task still gets the frames
    /// already queued first.
    ///
    /// - Returns: `false` if the spell was already over, so that no task will see `end`.
    @discardableResult
    func finish(_ end: Result<Void, any Error>) -> Bool {
        let (seen, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Entry?, any Error>?) in
            guard !state.retired else { return (false, nil) }
            if state.end == nil { state.end = end }
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(with: end.map { nil })
        return seen
    }

    /// The next frame of the request being served, waiting for it if need be; `nil` once the connection has
    /// closed.
    ///
    /// - Throws: the connection's failure, or `CancellationError` when the task is cancelled.
    func next() async throws -> DeliveredFrame? {
        while let entry = try await nextEntry() {
            if let delivered = handledHere(entry) { return delivered }
        }
        return nil
    }

    /// Writes an answer; returns a request's frame.
    private func handledHere(_ entry: Entry) -> DeliveredFrame? {
        switch entry {
        case .request(let delivered):
            return delivered
        case .answer(let frame):
            answer(frame)
            return nil
        }
    }

    /// The next entry, whatever it is.
    private func nextEntry() async throws -> Entry? {
        switch try take(orRetire: false) {
        case .entry(let entry): return entry
        case .over: return nil
        case .nothingYet: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (ready, resume) = state.withLock { state -> (Result<Entry?, any Error>?, Bool) in
                    if state.cancelled { return (.failure(CancellationError()), false) }
                    if let (entry, resume) = pop(&state) { return (.success(entry), resume) }
                    if let end = state.end { return (end.map { nil }, false) }
                    state.waiter = continuation
                    return (nil, false)
                }
                if resume { resumeReading() }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Entry?, any Error>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// The first frame of the next request if one is queued. Otherwise the spell ends: `nil`, and a frame that
    /// arrives later starts a new spell.
    ///
    /// - Throws: the connection's failure, once the queued frames are taken.
    func nextRequest() throws -> DeliveredFrame? {
        while case .entry(let entry) = try take(orRetire: true) {
            if let delivered = handledHere(entry) { return delivered }
        }
        return nil
    }

    private enum Taken {
        case entry(Entry)
        /// Nothing is queued, and the connection is open.
        case nothingYet
        /// Nothing is queued, and nothing will be: the connection closed or the inbox is retired.
        case over
    }

    /// Takes a queued frame. Without one, retires the inbox if `orRetire`.
    private func take(orRetire: Bool) throws -> Taken {
        let (taken, resume) = try state.withLock { state throws -> (Taken, Bool) in
            if let (entry, resume) = pop(&state) { return (.entry(entry), resume) }
            if let end = state.end {
                try end.get()
                return (.over, false)
            }
            guard orRetire else { return (.nothingYet, false) }
            state.retired = true
            return (.over, false)
        }
        if resume { resumeReading() }
        return taken
    }

    /// Takes the first queued entry, if any; `true` with it when reading should resume.
    private func pop(_ state: inout State) -> (Entry, Bool)? {
        guard let entry = state.entries.popFirst() else { return nil }
        state.bytes -= entry.bytes
        let resume =
            state.readingPaused && state.entries.count <= readAhead / 4 && state.bytes <= readAheadBytes / 4
        if resume { state.readingPaused = false }
        return (entry, resume)
    }
}
