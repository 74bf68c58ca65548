#if canImport(Glibc)
    import Glibc
#endif

/// Blocking writes of whole buffers to a descriptor: a file, a terminal, a pipe.
package enum DescriptorWrite {
    /// Writes all of `bytes` to `descriptor`, again after a short write or an interrupted one. `nil` once all is
    /// written, else the `errno` that stopped it (`EIO` for a descriptor that takes nothing).
    package static func all(_ bytes: UnsafeRawBufferPointer, to descriptor: CInt) -> CInt? {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            if written < 0 { return errno }
            if written == 0 { return EIO }
            offset += written
        }
        return nil
    }

    /// ``all(_:to:)`` for a string's UTF-8.
    package static func all(_ text: String, to descriptor: CInt) -> CInt? {
        var text = text
        return text.withUTF8 { all(UnsafeRawBufferPointer($0), to: descriptor) }
    }
}
