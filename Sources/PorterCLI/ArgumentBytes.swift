import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// The bytes of the command line as the shell passed them.
///
/// Swift decodes each argument as UTF-8, replacing every byte that is not with U+FFFD: a file name that is not
/// UTF-8 would silently become another name. Porter names files in UTF-8 only, so such an argument is refused,
/// shown with its bytes as they are.
enum ArgumentBytes {
    /// Why `value`, an argument as Swift decoded it, cannot be used as a name, or `nil` if it can.
    static func problem(with value: String) -> String? {
        guard value.unicodeScalars.contains("\u{FFFD}") else { return nil }
        for index in 0..<Int(CommandLine.argc) {
            guard let pointer = CommandLine.unsafeArgv[index] else { continue }
            let bytes = UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))
            guard String(validating: bytes, as: UTF8.self) == nil else { continue }
            let decoded = String(decoding: bytes, as: UTF8.self)
            if decoded == value || decoded.hasSuffix("=" + value) {
                return "'\(TerminalText.escaped(bytes: bytes))' is not valid UTF-8, and Porter names files in UTF-8 "
                    + "only: rename it (e.g. with convmv) and try again"
            }
        }
        return nil
    }
}
