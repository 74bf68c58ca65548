import NIOCore
import PorterProtocol

/// The frames of one busy spell of a connection: passed from its event loop, where ``ConnectionDispatcher`` reads
/// them, to the task serving its requests.
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

    private struct State {
        var frames = CircularBuffer<Frame>(initialCapacity: 4)
        /// Payload bytes of the queued frames.
        var bytes = 0
        var waiter: CheckedContinuation<Frame?, any Error>?
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
    ///   - answer: writes the answer to a ping (see ``ConnectionMessages``), which the inbox handles itself when
    ///     it reaches it: a request never sees a keepalive or a ping.
    ///   - resumeReading: called, on any thread, when a full inbox has drained enough to read again.
    init(
        first: Frame, readAhead: Int, readAheadBytes: Int, answer: @escaping @Sendable (Frame) -> Void,
        resumeReading: @escaping @Sendable () -> Void
    ) {
        self.readAhead = readAhead
        self.readAheadBytes = readAheadBytes
        self.answer = answer
        self.resumeReading = resumeReading
        state.withLock { state in
            state.frames.append(first)
            state.bytes = first.payload.readableBytes
        }
    }

    /// Adds a frame the dispatcher has read.
    func push(_ frame: Frame) -> Push {
        let (push, waiter) = state.withLock { state -> (Push, CheckedContinuation<Frame?, any Error>?) in
            guard !state.retired else { return (.retired, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.queued(pauseReading: false), waiter)
            }
            // A frame that waits must not keep the decoder's whole read buffer alive.
            state.frames.append(Frame(kind: frame.kind, stream: frame.stream, payload: frame.payload.compacted()))
            state.bytes += frame.payload.readableBytes
            if state.frames.count >= readAhead || state.bytes >= readAheadBytes { state.readingPaused = true }
            return (.queued(pauseReading: state.readingPaused), nil)
        }
        waiter?.resume(returning: frame)
        return push
    }

    /// No more frames will come: the connection closed (`.success`) or failed. The task still gets the frames
    /// already queued first.
    ///
    /// - Returns: `false` if the spell was already over, so that no task will see `end`.
    @discardableResult
    func finish(_ end: Result<Void, any Error>) -> Bool {
        let (seen, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Frame?, any Error>?) in
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
    func next() async throws -> Frame? {
        while let frame = try await nextFrame() {
            if !handledHere(frame) { return frame }
        }
        return nil
    }

    /// Answers a keepalive or a ping (``ConnectionMessages``); `false` for a request's frame.
    private func handledHere(_ frame: Frame) -> Bool {
        ConnectionMessages.handled(frame, answer: answer)
    }

    /// The next frame, whatever it is.
    private func nextFrame() async throws -> Frame? {
        switch try take(orRetire: false) {
        case .frame(let frame): return frame
        case .over: return nil
        case .nothingYet: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (ready, resume) = state.withLock { state -> (Result<Frame?, any Error>?, Bool) in
                    if state.cancelled { return (.failure(CancellationError()), false) }
                    if let (frame, resume) = pop(&state) { return (.success(frame), resume) }
                    if let end = state.end { return (end.map { nil }, false) }
                    state.waiter = continuation
                    return (nil, false)
                }
                if resume { resumeReading() }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Frame?, any Error>? in
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
    func nextRequest() throws -> Frame? {
        while case .frame(let frame) = try take(orRetire: true) {
            if !handledHere(frame) { return frame }
        }
        return nil
    }

    private enum Taken {
        case frame(Frame)
        /// Nothing is queued, and the connection is open.
        case nothingYet
        /// Nothing is queued, and nothing will be: the connection closed or the inbox is retired.
        case over
    }

    /// Takes a queued frame. Without one, retires the inbox if `orRetire`.
    private func take(orRetire: Bool) throws -> Taken {
        let (taken, resume) = try state.withLock { state throws -> (Taken, Bool) in
            if let (frame, resume) = pop(&state) { return (.frame(frame), resume) }
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

    /// Takes the first queued frame, if any; `true` with it when reading should resume.
    private func pop(_ state: inout State) -> (Frame, Bool)? {
        guard let frame = state.frames.popFirst() else { return nil }
        state.bytes -= frame.payload.readableBytes
        let resume =
            state.readingPaused && state.frames.count <= readAhead / 4 && state.bytes <= readAheadBytes / 4
        if resume { state.readingPaused = false }
        return (frame, resume)
    }
}
