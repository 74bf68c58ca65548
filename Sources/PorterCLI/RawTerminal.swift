import CPorterSystem
import PorterProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The local terminal in raw mode for an interactive remote shell: keys go to the remote side as typed
/// (Ctrl-C, Ctrl-D and Ctrl-Z included) and the remote terminal does all echoing and line editing.
///
/// ``restore()`` puts the saved settings back; callers run it on every way out.
final class RawTerminal {
    private let descriptor: Int32
    private var saved: termios

    /// Switches `descriptor` to raw mode, or returns `nil` if it is not a terminal.
    init?(descriptor: Int32 = STDIN_FILENO) {
        var settings = termios()
        guard isatty(descriptor) == 1, tcgetattr(descriptor, &settings) == 0 else { return nil }
        self.descriptor = descriptor
        self.saved = settings
        cfmakeraw(&settings)
        tcsetattr(descriptor, TCSADRAIN, &settings)
    }

    /// Puts the terminal back as it was.
    func restore() {
        tcsetattr(descriptor, TCSADRAIN, &saved)
    }

    /// The local terminal's type and size.
    static func current(descriptor: Int32 = STDOUT_FILENO) -> ControlMessage.Terminal {
        var rows: UInt16 = 24
        var cols: UInt16 = 80
        if porter_get_window_size(descriptor, &rows, &cols) != 0 || rows == 0 || cols == 0 {
            rows = 24
            cols = 80
        }
        let term = ProcessInfo.processInfo.environment["TERM"].flatMap { $0.isEmpty ? nil : $0 } ?? "xterm-256color"
        return ControlMessage.Terminal(term: term, rows: Int(rows), cols: Int(cols))
    }
}
