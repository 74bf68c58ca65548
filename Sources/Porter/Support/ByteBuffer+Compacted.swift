import NIOCore

extension ByteBuffer {
    /// This buffer, or a copy of just its readable bytes when it is a small part of a much larger storage.
    ///
    /// A decoded frame's payload is a slice of the frame decoder's buffer, which holds whole socket reads (up to
    /// 1 MiB) and is reallocated as reads arrive while slices of it are alive: a frame that waits — queued behind
    /// a request, or as a command's input — would keep its whole storage alive. Copying the frames that wait
    /// bounds what a client that sends without reading costs by the bytes it has in flight, not by the reads they
    /// came in.
    func compacted() -> ByteBuffer {
        guard storageCapacity > 2 * readableBytes + 4096 else { return self }
        var copy = ByteBufferAllocator().buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }
}
