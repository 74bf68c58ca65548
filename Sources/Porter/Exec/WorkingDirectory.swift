#if canImport(Glibc)
    import Glibc
#endif

/// The directory a command starts in, held open from the moment it was checked until the command has started in
/// it: the command enters it by descriptor, so renaming or swapping directories in between cannot send it
/// elsewhere.
final class WorkingDirectory: Sendable {
    /// An `O_PATH` descriptor of the directory, closed when this is released.
    let descriptor: CInt

    /// Takes ownership of `descriptor`.
    init(descriptor: CInt) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
