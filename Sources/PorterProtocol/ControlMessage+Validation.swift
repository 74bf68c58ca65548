extension ControlMessage.Terminal {
    /// Checks the size and `TERM`, naming them under `field`.
    func validate(_ field: String) throws(ProtocolError) {
        let prefix = field.isEmpty ? "" : field + "."
        try checkRange(rows, in: MessageRanges.terminalSize, prefix + "rows")
        try checkRange(cols, in: MessageRanges.terminalSize, prefix + "cols")
        guard term.utf8.count <= MessageRanges.maxTermLength, !term.utf8.contains(0) else {
            throw ProtocolError(
                .badMessage, "'\(prefix)term' must be at most \(MessageRanges.maxTermLength) bytes, without NUL"
            )
        }
    }
}

extension ControlMessage.FileEntry {
    /// Checks size, mode and time, naming them under `field`.
    func validate(_ field: String) throws(ProtocolError) {
        try checkRange(size, in: MessageRanges.fileSize, field + ".size")
        try checkRange(mode, in: MessageRanges.mode, field + ".mode")
        try mtime.validate(field + ".mtime")
    }
}

extension ControlMessage.FileTime {
    /// Checks seconds and nanoseconds, naming them under `field`.
    func validate(_ field: String) throws(ProtocolError) {
        try checkRange(seconds, in: MessageRanges.fileTimeSeconds, field + ".seconds")
        try checkRange(nanoseconds, in: MessageRanges.nanoseconds, field + ".nanoseconds")
    }
}

/// Throws ``ProtocolError/Code/badMessage`` naming `field` unless `range` holds `value`.
func checkRange<Value: Comparable>(_ value: Value, in range: ClosedRange<Value>, _ field: String)
    throws(ProtocolError)
{
    guard range.contains(value) else {
        throw ProtocolError(
            .badMessage, "'\(field)' is \(value), outside \(range.lowerBound)...\(range.upperBound)")
    }
}
