extension ChannelMessage {
    /// Checks every member against its range (docs/PROTOCOL.md section 3.3, ``MessageRanges``). Names,
    /// paths and texts are the services' to judge: they refuse or reject a bad one, the connection goes on.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage``, naming the member.
    public func validate() throws(ProtocolError) {
        switch self {
        case .open(let open):
            try checkRange(open.window, in: MessageRanges.window, "window")
            try open.parameters.validate()
        case .accept(let accept):
            try checkRange(accept.window, in: MessageRanges.window, "window")
            try accept.details.validate()
        case .done(let done):
            try done.validate()
        case .execResize(let size):
            try checkRange(size.rows, in: MessageRanges.terminalSize, "rows")
            try checkRange(size.cols, in: MessageRanges.terminalSize, "cols")
        case .execExit(let exit):
            if let status = exit.status { try checkRange(status, in: MessageRanges.exitStatus, "status") }
            if let number = exit.signalNumber {
                try checkRange(number, in: MessageRanges.signalNumber, "signalNumber")
            }
            try MessageRanges.checkSeconds(exit.duration, "duration")
        case .fileBegin(let begin):
            try checkRange(begin.offset, in: MessageRanges.fileSize, "offset")
        case .fileEnd(let end):
            try MessageRanges.checkDigest(end.digest, "digest")
        case .fileListing(let listing):
            for entry in listing.entries { try entry.validate("entries") }
        case .refuse, .reject, .fail, .execSignal, .chatSay, .chatPrivate, .chatNick, .chatWho, .chatMessage,
            .chatPresence, .chatMembers:
            break
        }
    }
}

extension ChannelMessage.Open.Parameters {
    fileprivate func validate() throws(ProtocolError) {
        switch self {
        case .exec(let exec):
            if let timeout = exec.timeout {
                guard timeout.isFinite, timeout > 0, timeout <= MessageRanges.maxTimeout else {
                    throw ProtocolError(
                        .badMessage,
                        "'timeout' must be more than 0 and at most \(Int(MessageRanges.maxTimeout)) seconds")
                }
            }
            try exec.pty?.validate("pty")
        case .fileGet(let get):
            if let offset = get.offset { try checkRange(offset, in: MessageRanges.fileSize, "offset") }
            if let prefix = get.prefix {
                try MessageRanges.checkDigest(prefix, "prefix", checksum: get.checksum ?? .default)
            }
        case .filePut(let put):
            try checkRange(put.size, in: MessageRanges.fileSize, "size")
            if let mode = put.mode { try checkRange(mode, in: MessageRanges.mode, "mode") }
            try put.mtime?.validate("mtime")
        case .forward(let forward):
            try checkHost(forward.host, "host")
            try checkRange(forward.port, in: MessageRanges.port, "port")
            if let host = forward.originHost { try checkHost(host, "originHost") }
            if let port = forward.originPort { try checkRange(port, in: MessageRanges.originPort, "originPort") }
        case .fileList, .echo, .chat, .unknown:
            break
        }
    }

    private func checkHost(_ host: String, _ field: String) throws(ProtocolError) {
        guard (1...MessageRanges.maxHostLength).contains(host.utf8.count), !host.utf8.contains(0) else {
            throw ProtocolError(.badMessage, "'\(field)' must be 1 to \(MessageRanges.maxHostLength) bytes, no NUL")
        }
    }
}

extension ChannelMessage.Accept.Details {
    fileprivate func validate() throws(ProtocolError) {
        switch self {
        case .exec(let pid):
            try checkRange(pid, in: MessageRanges.pid, "pid")
        case .fileGet(let header):
            try checkRange(header.size, in: MessageRanges.fileSize, "size")
            try checkRange(header.offset, in: 0...header.size, "offset")
            try checkRange(header.mode, in: MessageRanges.mode, "mode")
            try header.mtime.validate("mtime")
        case .filePut(let ready):
            try checkRange(ready.offset, in: MessageRanges.fileSize, "offset")
            if let prefix = ready.prefix { try MessageRanges.checkDigest(prefix, "prefix") }
        case .fileList(let kind):
            guard kind != .symlink else {
                throw ProtocolError(.badMessage, "'kind' must be file, directory or other")
            }
        case .echo, .chat, .forward:
            break
        }
    }
}

extension ChannelMessage.Done {
    fileprivate func validate() throws(ProtocolError) {
        switch self {
        case .fileGet(let end):
            try MessageRanges.checkDigest(end.digest, "digest")
        case .filePut(let done):
            if let size = done.size { try checkRange(size, in: MessageRanges.fileSize, "size") }
        case .fileList(let end):
            try end.directory?.validate("directory")
            if let skipped = end.skipped { try checkRange(skipped, in: MessageRanges.skipped, "skipped") }
            if let names = end.skippedNames, names.count > ChannelMessage.ListingEnd.maxSkippedNames {
                throw ProtocolError(
                    .badMessage, "'skippedNames' holds at most \(ChannelMessage.ListingEnd.maxSkippedNames) names")
            }
        case .empty:
            break
        }
    }
}
