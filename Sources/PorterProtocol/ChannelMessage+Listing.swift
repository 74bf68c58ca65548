extension ChannelMessage.Listing {
    /// Cuts `entries`, in order, into `file.listing` payloads that each encode to at most `maxPayload` bytes
    /// (docs/PROTOCOL.md section 5.4.4), by measuring each entry's encoding: a listing's payload is
    /// `{"entries":[…],"type":"file.listing"}`, so its size is that of the empty listing plus each entry's encoding
    /// and a comma between two.
    ///
    /// - Returns: the listings (none for no entries), and how many entries were left out because even alone they
    ///   do not fit.
    public static func cut(_ entries: some Sequence<ControlMessage.FileEntry>, maxPayload: Int) -> (
        listings: [Self], tooLarge: Int
    ) {
        let encoder = MessageJSON.makeEncoder()
        let empty = ChannelMessage.fileListing(.init(entries: [])).payload.readableBytes
        var listings: [Self] = []
        var current: [ControlMessage.FileEntry] = []
        var size = empty
        var tooLarge = 0
        for entry in entries {
            let cost = MessageJSON.encode(entry, with: encoder).readableBytes
            guard empty + cost <= maxPayload else {
                tooLarge += 1
                continue
            }
            let separator = current.isEmpty ? 0 : 1
            if size + separator + cost > maxPayload {
                listings.append(.init(entries: current))
                current = []
                size = empty
            }
            size += (current.isEmpty ? 0 : 1) + cost
            current.append(entry)
        }
        if !current.isEmpty { listings.append(.init(entries: current)) }
        return (listings, tooLarge)
    }
}
