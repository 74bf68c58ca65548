/// Bytes cut into whole lines, for output that several sources share line by line, as a group's members share a
/// terminal with each line prefixed by the member's name.
///
/// A line is given out once its newline arrives, or once it holds ``maxLineLength`` bytes, so that a source that
/// never ends a line (binary output, one huge line) cannot make the buffer grow without bound.
public struct LineBuffer: Sendable {
    /// The default of ``maxLineLength``: 64 KiB.
    public static let defaultMaxLineLength = 64 * 1024

    /// The most bytes held before a line without a newline is given out as it is.
    public let maxLineLength: Int
    private var pending: [UInt8] = []

    /// An empty buffer; `maxLineLength` is at least 1.
    public init(maxLineLength: Int = LineBuffer.defaultMaxLineLength) {
        self.maxLineLength = max(1, maxLineLength)
    }

    /// Adds `bytes` and returns the lines they complete, each without its newline.
    public mutating func append(_ bytes: some Sequence<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(pending)
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(byte)
            if pending.count == maxLineLength {
                lines.append(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        return lines
    }

    /// The unfinished last line, if there is one; the buffer is empty afterwards.
    public mutating func finish() -> [UInt8]? {
        guard !pending.isEmpty else { return nil }
        defer { pending.removeAll() }
        return pending
    }
}
