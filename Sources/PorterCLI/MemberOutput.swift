import NIOCore
import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// What one member of a group prints: whole lines, each prefixed with `NAME: ` as pdsh does, standard output
/// lines on standard output and standard error lines on standard error. A line is written in one piece under a
/// lock that every member shares, so that two members' lines never mix within a line. With `--json` the member's
/// ``events`` are written instead, each naming it, and no line at all.
final class MemberOutput: Sendable {
    /// The member's name, from the config file.
    let name: String
    /// The member's events: the group's choice of events or text, each event with the member's `host`.
    let events: EventOutput
    private let prefix: [UInt8]
    private let buffers: Locked<(output: LineBuffer, errors: LineBuffer)>
    /// Held while a line is written, across every member.
    private static let writing = Locked(())

    /// The output of the member `name` of a group whose output is `events`.
    init(name: String, events: EventOutput) {
        self.name = name
        self.events = events.member(name)
        self.prefix = Array((name + ": ").utf8)
        self.buffers = Locked((LineBuffer(), LineBuffer()))
    }

    /// Adds output of the member's command to standard output or error (`descriptor`), writing the lines it
    /// completes.
    func write(_ bytes: ByteBuffer, to descriptor: Int32) {
        let lines = buffers.withLock { buffers in
            descriptor == STDERR_FILENO
                ? buffers.errors.append(bytes.readableBytesView) : buffers.output.append(bytes.readableBytesView)
        }
        for line in lines { emit(line, to: descriptor) }
    }

    /// Writes `text` as a line on standard output.
    func line(_ text: String) {
        emit(Array(text.utf8), to: STDOUT_FILENO)
    }

    /// Writes `porter: text` as a line on standard error.
    func error(_ text: String) {
        emit(Array(("porter: " + text).utf8), to: STDERR_FILENO)
    }

    /// Writes the unfinished last lines, if any, each ended with a newline.
    func finish() {
        let (output, errors) = buffers.withLock { ($0.output.finish(), $0.errors.finish()) }
        if let output { emit(output, to: STDOUT_FILENO) }
        if let errors { emit(errors, to: STDERR_FILENO) }
    }

    private func emit(_ line: [UInt8], to descriptor: Int32) {
        guard !events.json else { return }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(prefix.count + line.count + 1)
        buffer.writeBytes(prefix)
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        Self.writing.withLock { _ in _ = Terminal.write(buffer, to: descriptor) }
    }
}
