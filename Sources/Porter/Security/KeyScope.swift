import PorterProtocol

/// What a connection that authenticated with a key may do, and where: its authorized keys line's options, carried
/// out (docs/SECURITY.md).
///
/// Made once per connection, when it authenticates. `porter-root="DIR"` gives the connection its own file and exec
/// services, rooted at DIR beneath the server's root (opened by the kernel beneath it, as every path is), and
/// `command="…"` an exec service that runs that command for every request. A refusal is `not-permitted` and
/// never ends the connection.
final class KeyScope: Sendable {
    /// The line that listed the key.
    let entry: AuthorizedKeys.Entry
    /// The key's fingerprint, for messages.
    let fingerprint: String
    /// The file service, confined to `porter-root`.
    let files: FileService
    /// The exec service, confined to `porter-root` and running `command=`.
    let exec: ExecService
    /// Why the key may do nothing: its `porter-root` cannot be opened.
    let failure: ProtocolError?

    /// The scope of `entry`'s key, its services derived from the server's.
    init(entry: AuthorizedKeys.Entry, fingerprint: String, files: FileService, exec: ExecService) {
        self.entry = entry
        self.fingerprint = fingerprint
        var (files, exec, failure) = (files, exec, ProtocolError?.none)
        if let root = entry.options.root {
            let components = root.split(separator: "/").map(String.init)
            do {
                files = try files.confined(to: components)
                exec = try exec.confined(to: components)
            } catch {
                failure = ProtocolError(
                    .notPermitted,
                    "key \(fingerprint) is confined to porter-root \"\(TerminalText.escaped(root))\", which the server cannot open: \(error.message)"
                )
            }
        }
        if let command = entry.options.forcedCommand { exec = exec.forcing(command) }
        self.files = files
        self.exec = exec
        self.failure = failure
    }

    /// Why the key may not open a channel for `parameters`, or `nil` if it may.
    func refusal(toOpen parameters: ChannelMessage.Open.Parameters) -> ProtocolError? {
        if let failure { return failure }
        let options = entry.options
        let operation: AuthorizedKeys.Operation
        switch parameters {
        case .exec(let request) where request.pty != nil:
            guard options.allowsPTY else { return refused("a pseudo-terminal (no-pty)") }
            operation = request.argv.isEmpty ? .shell : .exec
        case .exec: operation = .exec
        case .fileGet: operation = .get
        case .filePut: operation = .put
        case .fileList: operation = .ls
        case .echo: operation = .echo
        case .chat: operation = .chat
        case .forward:
            guard options.allowsPortForwarding else { return refused("forwarding (no-port-forwarding)") }
            operation = .forward
        case .unknown: return nil
        }
        guard options.permits(operation) else { return refused("'\(operation.rawValue)'") }
        return nil
    }

    /// Why the key may not run the global request `request`, or `nil`: `file.mkdir`, `file.symlink` and
    /// `file.attrs` are part of an upload, so they need `put`.
    func refusal(toRun request: ConnectionMessage.GlobalRequest.Request) -> ProtocolError? {
        if let failure { return failure }
        switch request {
        case .fileAttrs(let attributes) where (try? PeerPath.components(of: attributes.path))?.isEmpty != false:
            // The key's root is shared with whoever set it up: its mode is not the key's to change.
            return refused("to change its root directory's attributes")
        case .fileMkdir, .fileSymlink, .fileAttrs:
            return entry.options.permits(.put) ? nil : refused("'put' (\(request.name))")
        case .unknown:
            return nil
        }
    }

    private func refused(_ what: String) -> ProtocolError {
        ProtocolError(.notPermitted, "key \(fingerprint) is not permitted \(what) on this server")
    }
}
