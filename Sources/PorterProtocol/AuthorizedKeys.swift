/// The keys a server accepts, parsed from the text of an OpenSSH-format `authorized_keys` file
/// (`--authorized-keys FILE`), and what each may do.
///
/// Each line is, as in sshd(8) AUTHORIZED_KEYS FILE FORMAT: an optional options field, a key type, the key data in
/// base64 and an optional comment (the rest of the line, spaces included), separated by spaces or tabs. Blank lines
/// and lines starting with `#` are ignored. The options field is recognised as OpenSSH does: if the first field is
/// not a key type, it is options. Options are comma-separated, `name` or `name="value"`, with no spaces except
/// inside the double quotes; inside a value `\"` stands for a quote (a backslash before anything else is itself);
/// names are case-insensitive. The supported options are described in ``KeyOptions``.
///
/// A mistake never throws and never blocks other lines: the line is skipped and becomes one ``Problem`` naming the
/// file and line. That includes keys of types Porter does not support (``supportedKeyTypes``). One deliberate
/// difference from OpenSSH, which skips a bad line and goes on looking: once a line for a key is refused, no later
/// line for the same key is used (see ``entries(matching:)``), so a typo in a restriction can never let a broader
/// line further down take effect. Other keys are unaffected.
///
/// The work is bounded by the text's length: a line over ``maxLineLength`` bytes is refused unread.
public struct AuthorizedKeys: Sendable {
    /// The longest line read, in bytes without the line break; a longer line is a ``Problem``.
    public static let maxLineLength = 16_384

    /// The key types accepted, as they are written in the key type field.
    public static let supportedKeyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256"]

    /// The path the text was read from, as given, for messages.
    public let path: String

    /// The lines that were accepted, in file order.
    public let entries: [Entry]

    /// The lines that were refused, in file order, one problem each.
    public let problems: [Problem]

    /// The lines refused although their key data could be read: they stop the lookup of that key.
    private let refusals: [(line: Int, blob: [UInt8])]

    /// For each key blob, the indices in ``entries`` of the lines that may authorise it, in file order.
    private let lookup: [[UInt8]: [Int]]

    /// Parses the text of an authorized_keys file read from `path`.
    ///
    /// Lines are separated by LF; a CR before it and blanks at either end are ignored. Lines are numbered from 1.
    public init(text: some StringProtocol, path: String) {
        var entries: [Entry] = []
        var problems: [Problem] = []
        var refusals: [(line: Int, blob: [UInt8])] = []
        let bytes = Array(text.utf8)
        var number = 0
        for raw in bytes.split(separator: Byte.newline, omittingEmptySubsequences: false) {
            number += 1
            switch Self.parse(line: raw) {
            case .ignored:
                continue
            case .accepted(let key):
                entries.append(
                    Entry(
                        keyType: key.type, keyBlob: key.blob, comment: key.comment, line: number, options: key.options))
            case .refused(let message, let blob):
                problems.append(Problem(path: path, line: number, message: message))
                if let blob { refusals.append((number, blob)) }
            }
        }
        self.init(path: path, entries: entries, problems: problems, refusals: refusals)
    }

    private init(path: String, entries: [Entry], problems: [Problem], refusals: [(line: Int, blob: [UInt8])]) {
        self.path = path
        self.entries = entries
        self.problems = problems
        self.refusals = refusals
        var stops: [[UInt8]: Int] = [:]
        for refusal in refusals { stops[refusal.blob] = min(stops[refusal.blob] ?? .max, refusal.line) }
        var lookup: [[UInt8]: [Int]] = [:]
        for (index, entry) in entries.enumerated() where entry.line < stops[entry.keyBlob] ?? .max {
            lookup[entry.keyBlob, default: []].append(index)
        }
        self.lookup = lookup
    }

    /// The entries that may authorise the key whose blob (the decoded key data) is `blob`, in file order: its
    /// accepted lines up to the first refused line for it, if any.
    ///
    /// OpenSSH uses the first of these whose `from=` permits the client; see ``first(matching:from:)``.
    public func entries(matching blob: [UInt8]) -> [Entry] {
        (lookup[blob] ?? []).map { entries[$0] }
    }

    /// The first entry for the key `blob`, whatever the client's address: ``entries(matching:)``'s first.
    public func first(matching blob: [UInt8]) -> Entry? {
        lookup[blob]?.first.map { entries[$0] }
    }

    /// The entry that authorises the key `blob` for a client at `address` (numeric, as in
    /// ``AddressPatternList/permits(address:)``), as OpenSSH chooses it: the first of ``entries(matching:)``
    /// whose `from=`, if any, permits the address; `nil` if none does.
    public func first(matching blob: [UInt8], from address: String) -> Entry? {
        entries(matching: blob).first { $0.options.permits(address: address) }
    }

    /// A copy in which `entry` is refused with `message` (a ``Problem`` on its line) and, like any refused line,
    /// stops the lookup of its key: for a caller that finds more wrong with a key, such as a point off its curve.
    public func refusing(_ entry: Entry, because message: String) -> AuthorizedKeys {
        let problem = Problem(path: path, line: entry.line, message: message)
        return AuthorizedKeys(
            path: path, entries: entries.filter { $0.line != entry.line },
            problems: (problems + [problem]).sorted { $0.line < $1.line },
            refusals: refusals + [(entry.line, entry.keyBlob)])
    }
}

// MARK: - Entries and problems

extension AuthorizedKeys {
    /// One accepted line: a key and the options that restrict it.
    public struct Entry: Sendable, Hashable {
        /// The key type field, one of ``AuthorizedKeys/supportedKeyTypes``.
        public let keyType: String
        /// The decoded key data, an SSH public key blob whose leading string is ``keyType``; its structure (an
        /// Ed25519 key of 32 bytes, or a P-256 point of 65 uncompressed bytes) is checked, the point itself is not.
        public let keyBlob: [UInt8]
        /// The comment after the key data, spaces included; empty if there is none.
        public let comment: String
        /// The line number in the file, from 1.
        public let line: Int
        /// What the key may do.
        public let options: KeyOptions

        /// An entry; parsing makes these, this is for callers and tests that need one.
        public init(keyType: String, keyBlob: [UInt8], comment: String, line: Int, options: KeyOptions) {
            self.keyType = keyType
            self.keyBlob = keyBlob
            self.comment = comment
            self.line = line
            self.options = options
        }
    }

    /// A refused line: `PATH:LINE: message`.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        /// The file's path, as given.
        public let path: String
        /// The line number, from 1.
        public let line: Int
        /// What is wrong, without the path and line.
        public let message: String

        /// A problem with `line` of the file at `path`.
        public init(path: String, line: Int, message: String) {
            self.path = path
            self.line = line
            self.message = message
        }

        /// `PATH:LINE: message`.
        public var description: String { "\(path):\(line): \(message)" }
    }
}

// MARK: - Permissions

extension AuthorizedKeys {
    /// What a client may ask for, named as in `porter-allow`.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        /// Run a command.
        case exec
        /// Run an interactive shell, which needs a pty.
        case shell
        /// Download files.
        case get
        /// Upload files.
        case put
        /// List directories.
        case ls
        /// Join chat rooms.
        case chat
        /// Use the echo service.
        case echo
        /// Forward ports.
        case forward
    }

    /// The options of a line and the policy they make.
    ///
    /// The options:
    /// - `restrict`: no pty and no port forwarding (and nothing else a later Porter adds), unless re-enabled by a
    ///   `pty` or `port-forwarding` after it. As in OpenSSH, the flags apply left to right, so a `pty` before
    ///   `restrict` is undone by it.
    /// - `pty` / `no-pty`, `port-forwarding` / `no-port-forwarding`: allow or forbid a pty, port forwarding. Both
    ///   forms of one on a line is a problem.
    /// - `no-agent-forwarding`, `no-X11-forwarding`, `no-user-rc`: accepted and ignored, since Porter has none of
    ///   these (lines made for OpenSSH often carry them). Every other OpenSSH option, including the positive forms
    ///   of these three, `permitopen`, `expiry-time` and `cert-authority`, refuses the line, as does an unknown
    ///   option: ignoring a restriction would grant more than the line says.
    /// - `command="…"`: the forced command (not empty, no NUL), run for exec and shell requests alike.
    /// - `from="…"`: the client addresses the key may be used from, an ``AddressPatternList``.
    /// - `porter-allow="…"`: the operations the key may use, comma-separated ``Operation`` names (case-insensitive,
    ///   blanks around a name ignored); an unknown or empty name, or an empty list, is a problem.
    /// - `porter-root="DIR"`: a directory under the server's `--root` that the key's files and commands are
    ///   confined to; relative, without `..`, NUL or control characters; `.` components and repeated or trailing
    ///   slashes are removed (so `porter-root="."` is the whole root, ``root`` `nil`).
    ///
    /// An option given twice is a problem.
    ///
    /// The rule: an operation is permitted when it is in the *base set* and neither flag forbids it. The base set
    /// is `porter-allow`'s list if the line has one; otherwise every operation, except that with a forced command
    /// it is `exec`, `shell` and `forward` (as in OpenSSH, where a forced command replaces every session request,
    /// file transfer included, but does not stop port forwarding). Then `shell` needs ``allowsPTY`` and `forward`
    /// needs ``allowsPortForwarding``. An `exec` may ask for a pty only if ``allowsPTY``.
    public struct KeyOptions: Sendable, Hashable {
        /// Whether the line says `restrict`.
        public let isRestricted: Bool
        /// Whether the key may have a pty: a shell, or an exec that asks for one.
        public let allowsPTY: Bool
        /// Whether the key may forward ports.
        public let allowsPortForwarding: Bool
        /// The command every exec and shell request runs instead of its own, from `command=`.
        public let forcedCommand: String?
        /// The directory under the server's root that the key is confined to, from `porter-root=`: normalised,
        /// relative, without `.` or `..`; `nil` for the whole root.
        public let root: String?
        /// The addresses the key may be used from, from `from=`; `nil` for any.
        public let from: AddressPatternList?
        /// The operations listed by `porter-allow=`, `nil` if the line has none; ``permittedOperations`` is the
        /// effective set.
        public let allowedOperations: Set<Operation>?

        /// Options as given; the defaults are those of a line without options, which permits everything.
        public init(
            isRestricted: Bool = false, allowsPTY: Bool = true, allowsPortForwarding: Bool = true,
            forcedCommand: String? = nil, root: String? = nil, from: AddressPatternList? = nil,
            allowedOperations: Set<Operation>? = nil
        ) {
            self.isRestricted = isRestricted
            self.allowsPTY = allowsPTY
            self.allowsPortForwarding = allowsPortForwarding
            self.forcedCommand = forcedCommand
            self.root = root
            self.from = from
            self.allowedOperations = allowedOperations
        }

        /// The operations the key may use, by the rule in the type's description.
        public var permittedOperations: Set<Operation> {
            var permitted =
                allowedOperations ?? (forcedCommand == nil ? Set(Operation.allCases) : [.exec, .shell, .forward])
            if !allowsPTY { permitted.remove(.shell) }
            if !allowsPortForwarding { permitted.remove(.forward) }
            return permitted
        }

        /// Whether the key may use `operation`; a refusal is `not-permitted`, and the connection goes on.
        public func permits(_ operation: Operation) -> Bool {
            permittedOperations.contains(operation)
        }

        /// Whether the key may be used from `address`: true without `from=`, else ``from``'s verdict.
        public func permits(address: String) -> Bool {
            from?.permits(address: address) ?? true
        }
    }
}

// MARK: - Address patterns

extension AuthorizedKeys {
    /// A `from=` pattern list: comma-separated patterns, each optionally negated with `!`.
    ///
    /// A pattern is a CIDR block `ADDRESS/BITS` (IPv4 or IPv6, with no bits set past the prefix), an address, or
    /// a wildcard pattern where `*` matches any run of characters and `?` any one, compared with the address as
    /// text: IPv4 in dotted decimal, IPv6 in its RFC 5952 form (lower case, shortest). An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`), in a pattern or of a client, counts as the IPv4 address. Blanks around a pattern are
    /// ignored.
    ///
    /// The verdict is OpenSSH's: a matching negated pattern denies; otherwise any matching pattern permits;
    /// otherwise the address is denied.
    ///
    /// Porter does no reverse DNS, so patterns are matched against the numeric address only: a host-name pattern
    /// such as `*.example.com` never matches (as in OpenSSH with its default `UseDNS no`). Because a negated one
    /// could then never deny anyone, a negated pattern that cannot be an address pattern (it holds characters
    /// other than hex digits, `.`, `:`, `*` and `?`) is a problem, as are an empty pattern and a malformed or
    /// inconsistent CIDR block.
    public struct AddressPatternList: Sendable, Hashable, CustomStringConvertible {
        /// The list as written.
        public let text: String
        private let patterns: [Pattern]

        /// Why a pattern list is refused.
        public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
            /// What is wrong.
            public let message: String
            /// The message.
            public var description: String { message }
        }

        /// Parses a pattern list, the value of `from=` without its quotes.
        public init(_ text: String) throws(Invalid) {
            self.text = text
            var patterns: [Pattern] = []
            for item in Array(text.utf8).split(separator: Byte.comma, omittingEmptySubsequences: false) {
                patterns.append(try Pattern(trimmingBlanks(item)))
            }
            self.patterns = patterns
        }

        /// Whether a client at `address` is permitted: see the type's description.
        ///
        /// `address` is the numeric address as text, IPv4 dotted decimal or IPv6 (a `%zone` suffix is ignored);
        /// text that is no address can match only wildcard patterns, never a CIDR block.
        public func permits(address: String) -> Bool {
            let client = Client(address)
            var permitted = false
            for pattern in patterns where pattern.matches(client) {
                if pattern.isNegated { return false }
                permitted = true
            }
            return permitted
        }

        /// The list as written.
        public var description: String { text }
    }
}

extension AuthorizedKeys.AddressPatternList {
    fileprivate typealias Byte = AuthorizedKeys.Byte

    /// A client's address, parsed when it is one, and the text that wildcards are matched against.
    private struct Client {
        let address: IPAddress?
        let text: [UInt8]

        init(_ string: String) {
            var bytes = Array(string.utf8)
            if let percent = bytes.firstIndex(of: UInt8(ascii: "%")), bytes.contains(Byte.colon) {
                bytes.removeSubrange(percent...)
            }
            if let parsed = IPAddress(bytes[...]) {
                let address = parsed.unmapped(prefix: parsed.bitCount).address
                self.address = address
                self.text = Array(address.text.utf8)
            } else {
                self.address = nil
                self.text = bytes.map(Byte.lowercased)
            }
        }
    }

    private enum Form: Hashable {
        case network(IPAddress, prefix: Int)
        case wildcard([UInt8])
    }

    /// One pattern of the list.
    private struct Pattern: Hashable {
        let isNegated: Bool
        let form: Form

        init(_ item: ArraySlice<UInt8>) throws(Invalid) {
            let shown = AuthorizedKeys.shown(item)
            isNegated = item.first == UInt8(ascii: "!")
            let body = isNegated ? item.dropFirst() : item
            guard !body.isEmpty else { throw Invalid(message: "from= has an empty pattern") }
            if let slash = body.firstIndex(of: Byte.slash) {
                let digits = body[(slash + 1)...]
                guard let address = IPAddress(body[..<slash]), (1...3).contains(digits.count),
                    digits.allSatisfy(Byte.isDigit),
                    let prefix = Int(String(decoding: digits, as: UTF8.self)), prefix <= address.bitCount
                else {
                    throw Invalid(message: "from= pattern '\(shown)' is not an address block (ADDRESS/BITS)")
                }
                let network = address.masked(to: prefix)
                guard network == address else {
                    throw Invalid(
                        message: "from= pattern '\(shown)' has bits set past the /\(prefix) prefix; "
                            + "the block is \(network.text)/\(prefix)")
                }
                let (unmapped, bits) = address.unmapped(prefix: prefix)
                form = .network(unmapped, prefix: bits)
            } else if let address = IPAddress(body) {
                let (unmapped, bits) = address.unmapped(prefix: address.bitCount)
                form = .network(unmapped, prefix: bits)
            } else {
                let lowered = body.map(Byte.lowercased)
                if isNegated && !lowered.allSatisfy(Byte.mayBeInAddressPattern) {
                    throw Invalid(
                        message: "from= pattern '\(shown)' names a host, but Porter matches addresses only "
                            + "(no reverse DNS), so it could never deny anyone")
                }
                form = .wildcard(lowered)
            }
        }

        func matches(_ client: Client) -> Bool {
            switch form {
            case .network(let network, let prefix):
                guard let address = client.address else { return false }
                return address.bitCount == network.bitCount && address.masked(to: prefix) == network
            case .wildcard(let pattern):
                return wildcardMatches(client.text[...], pattern[...])
            }
        }
    }
}

extension AuthorizedKeys.AddressPatternList {
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
    fileprivate struct IPAddress: Hashable {
        let bytes: [UInt8]

        var bitCount: Int { bytes.count * 8 }

        /// Parses dotted-decimal IPv4 (no leading zeros) or RFC 4291 IPv6 text, with an IPv4 tail allowed.
        init?(_ text: ArraySlice<UInt8>) {
            if let v4 = Self.parseIPv4(text) {
                bytes = v4
            } else if let v6 = Self.parseIPv6(text) {
                bytes = v6
            } else {
                return nil
            }
        }

        private init(bytes: [UInt8]) { self.bytes = bytes }

        /// The address with every bit past `prefix` cleared.
        func masked(to prefix: Int) -> IPAddress {
            var masked = bytes
            for index in masked.indices {
                let kept = min(max(prefix - index * 8, 0), 8)
                masked[index] &= kept == 0 ? 0 : ~UInt8(0) << (8 - kept)
            }
            return IPAddress(bytes: masked)
        }

        /// An IPv4-mapped IPv6 address or block (`::ffff:0:0/96` and inside) as IPv4; anything else unchanged.
        func unmapped(prefix: Int) -> (address: IPAddress, prefix: Int) {
            let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
            guard bytes.count == 16, prefix >= 96, bytes.starts(with: mapped) else { return (self, prefix) }
            return (IPAddress(bytes: Array(bytes[12...])), prefix - 96)
        }

        /// Dotted decimal, or RFC 5952 text: lower-case hex without leading zeros, the longest run of two or more
        /// zero groups (the first of equals) as `::`.
        var text: String {
            guard bytes.count == 16 else { return bytes.map { String($0) }.joined(separator: ".") }
            let groups = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
            var best = (start: 0, count: 0)
            var index = 0
            while index < 8 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > best.count { best = (index, end - index) }
                index = max(end, index + 1)
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.count >= 2 else { return hex.joined(separator: ":") }
            let head = hex[..<best.start].joined(separator: ":")
            let tail = hex[(best.start + best.count)...].joined(separator: ":")
            return head + "::" + tail
        }

        private static func parseIPv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
            var bytes: [UInt8] = []
            for part in text.split(separator: Byte.dot, omittingEmptySubsequences: false) {
                guard bytes.count < 4, (1...3).contains(part.count), part.allSatisfy(Byte.isDigit) else { return nil }
                guard part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
                let value = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                guard value <= 255 else { return nil }
                bytes.append(UInt8(value))
            }
            return bytes.count == 4 ? bytes : nil
        }

        private static func parseIPv6(_ text: ArraySlice<UInt8>) -> [UInt8]? {
            guard (2...45).contains(text.count) else { return nil }
            var gap: Range<Int>?
            var index = text.startIndex
            while index + 1 < text.endIndex {
                if text[index] == Byte.colon && text[index + 1] == Byte.colon {
                    guard gap == nil else { return nil }
                    gap = index..<(index + 2)
                    index += 2
                } else {
                    index += 1
                }
            }
            if let gap {
                guard let head = groups(text[..<gap.lowerBound], ipv4Tail: false),
                    let tail = groups(text[gap.upperBound...], ipv4Tail: true), head.count + tail.count <= 14
                else { return nil }
                return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
            }
            guard let all = groups(text, ipv4Tail: true), all.count == 16 else { return nil }
            return all
        }

        /// The bytes of colon-separated hex groups, the last possibly dotted IPv4; `[]` for empty text.
        private static func groups(_ text: ArraySlice<UInt8>, ipv4Tail: Bool) -> [UInt8]? {
            guard !text.isEmpty else { return [] }
            let parts = text.split(separator: Byte.colon, omittingEmptySubsequences: false)
            var bytes: [UInt8] = []
            for (index, part) in parts.enumerated() {
                if ipv4Tail && index == parts.count - 1 && part.contains(Byte.dot) {
                    guard let v4 = parseIPv4(part) else { return nil }
                    bytes += v4
                    continue
                }
                guard (1...4).contains(part.count), part.allSatisfy(Byte.isHexDigit),
                    let value = UInt16(String(decoding: part, as: UTF8.self), radix: 16)
                else { return nil }
                bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return bytes.count <= 16 ? bytes : nil
        }
    }

    /// Whether `text` matches `pattern`, where `*` matches any run of bytes and `?` any one byte. Time is at most
    /// proportional to the product of the lengths.
    fileprivate static func wildcardMatches(_ text: ArraySlice<UInt8>, _ pattern: ArraySlice<UInt8>) -> Bool {
        var t = text.startIndex
        var p = pattern.startIndex
        var star: (pattern: Int, text: Int)?
        while t < text.endIndex {
            if p < pattern.endIndex && pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
            } else if p < pattern.endIndex && (pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if let resume = star {
                star = (resume.pattern, resume.text + 1)
                p = resume.pattern + 1
                t = resume.text + 1
            } else {
                return false
            }
        }
        while p < pattern.endIndex && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }
}

// MARK: - Parsing lines

extension AuthorizedKeys {
    private enum LineResult {
        case ignored
        case accepted(ParsedKey)
        /// A refused line, with its key data if that could be read.
        case refused(String, [UInt8]?)
    }

    private struct ParsedKey {
        var type: String
        var blob: [UInt8]
        var comment: String
        var options: KeyOptions
    }

    /// Why a line is refused.
    private struct Refusal: Error {
        let message: String
        var blob: [UInt8]?

        init(_ message: String, blob: [UInt8]? = nil) {
            self.message = message
            self.blob = blob
        }
    }

    /// Key types OpenSSH knows that Porter does not accept; used to tell a key type from an options field.
    private static let otherKeyTypes: Set<String> = [
        "ssh-rsa", "ssh-dss", "rsa-sha2-256", "rsa-sha2-512", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-xmss@openssh.com",
        "ssh-rsa-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com", "ssh-ed25519-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "ssh-xmss-cert-v01@openssh.com",
    ]

    /// One line; a refused line's key is found wherever it stands on the line, so that a mistake that hides it
    /// from the parser (a space after a comma in the options, a line too long) still blocks the later lines for
    /// that key.
    private static func parse(line raw: ArraySlice<UInt8>) -> LineResult {
        let result = parseFields(of: raw)
        guard case .refused(let message, nil) = result else { return result }
        return .refused(message, anyKeyBlob(in: raw))
    }

    /// The first piece of `raw` between blanks, tabs, quotes and commas that is the base64 of a key of a
    /// supported type, decoded.
    private static func anyKeyBlob(in raw: ArraySlice<UInt8>) -> [UInt8]? {
        let separators: Set<UInt8> = [0x20, 0x09, 0x22, 0x2C]  // blank, tab, '"', ','
        for piece in raw.split(whereSeparator: separators.contains) where piece.count >= 60 {
            if let blob = decodeBase64(piece), let name = leadingString(of: blob),
                supportedKeyTypes.contains(String(decoding: name, as: UTF8.self))
            {
                return blob
            }
        }
        return nil
    }

    private static func parseFields(of raw: ArraySlice<UInt8>) -> LineResult {
        var scanner = Scanner(raw)
        scanner.skipBlanks()
        guard let first = scanner.peek, first != UInt8(ascii: "#") else { return .ignored }
        guard raw.count <= maxLineLength else {
            return .refused("the line is longer than \(maxLineLength) bytes", nil)
        }
        var optionsField: ArraySlice<UInt8>?
        if !startsWithKeyType(scanner) {
            let field = scanner.optionsField()
            if let blob = decodeBase64(field), let name = leadingString(of: blob),
                supportedKeyTypes.contains(String(decoding: name, as: UTF8.self))
            {
                return .refused("the key type is missing before the key data", blob)
            }
            optionsField = field
            scanner.skipBlanks()
        }
        let key: Result<ParsedKey, Refusal>
        do {
            key = .success(try parseKey(&scanner))
        } catch {
            key = .failure(error)
        }
        var options = KeyOptions()
        if let optionsField {
            do {
                options = try parseOptions(optionsField)
            } catch {
                switch key {
                case .success(let parsed): return .refused(error.message, parsed.blob)
                case .failure(let refusal): return .refused(error.message, refusal.blob)
                }
            }
        }
        switch key {
        case .success(var parsed):
            parsed.options = options
            return .accepted(parsed)
        case .failure(let refusal):
            return .refused(refusal.message, refusal.blob)
        }
    }

    /// OpenSSH's test: whether the line (at its first field) starts with a key type rather than options. A known
    /// type name counts; so does an unknown one with no `=`, `,` or `"` followed by key data that names it.
    private static func startsWithKeyType(_ scanner: Scanner) -> Bool {
        var scanner = scanner
        let field = scanner.field()
        let name = String(decoding: field, as: UTF8.self)
        if supportedKeyTypes.contains(name) || otherKeyTypes.contains(name) { return true }
        let punctuation: [UInt8] = [Byte.equals, Byte.comma, Byte.quote]
        guard !field.contains(where: punctuation.contains) else { return false }
        scanner.skipBlanks()
        guard let blob = decodeBase64(scanner.field()), let named = leadingString(of: blob) else { return false }
        return named.elementsEqual(field)
    }

    /// The key type, key data and comment.
    private static func parseKey(_ scanner: inout Scanner) throws(Refusal) -> ParsedKey {
        let start = scanner
        let typeField = scanner.field()
        guard !typeField.isEmpty else { throw Refusal("there is no key after the options") }
        let type = String(decoding: typeField, as: UTF8.self)
        guard supportedKeyTypes.contains(type) else {
            let known = otherKeyTypes.contains(type) || startsWithKeyType(start)
            let choice = "use ssh-ed25519 or ecdsa-sha2-nistp256"
            throw Refusal(
                known
                    ? "key type \(shown(typeField)) is not supported; \(choice)"
                    : "'\(shown(typeField))' is not a key type; \(choice)")
        }
        scanner.skipBlanks()
        let data = scanner.field()
        guard !data.isEmpty else { throw Refusal("the \(type) key has no key data") }
        guard let blob = decodeBase64(data) else { throw Refusal("the \(type) key data is not valid base64") }
        if let problem = problem(withBlob: blob, type: type) { throw Refusal(problem, blob: blob) }
        scanner.skipBlanks()
        return ParsedKey(
            type: type, blob: blob, comment: String(decoding: scanner.rest, as: UTF8.self), options: KeyOptions())
    }

    /// What is wrong with the structure of `blob` for `type`, or `nil`.
    private static func problem(withBlob blob: [UInt8], type: String) -> String? {
        var reader = BlobReader(blob)
        guard let name = reader.string() else { return "the key data is too short to name its type" }
        guard name.elementsEqual(type.utf8) else {
            return "the key data is for \(shown(name)) but the line says \(type)"
        }
        switch type {
        case "ssh-ed25519":
            guard let key = reader.string(), key.count == 32, reader.isAtEnd else {
                return "the ssh-ed25519 key data is malformed (it must hold a 32-byte key)"
            }
        default:
            guard let curve = reader.string(), curve.elementsEqual("nistp256".utf8), let point = reader.string(),
                point.count == 65, point.first == 4, reader.isAtEnd
            else {
                return "the ecdsa-sha2-nistp256 key data is malformed (it must hold an uncompressed P-256 point)"
            }
        }
        return nil
    }

    /// The leading SSH string of a key blob, its type name.
    private static func leadingString(of blob: [UInt8]) -> ArraySlice<UInt8>? {
        var reader = BlobReader(blob)
        return reader.string()
    }
}

// MARK: - Parsing options

extension AuthorizedKeys {
    /// Options that OpenSSH has and Porter refuses, so that they get a clearer message than unknown ones.
    private static let unsupportedOptions: Set<String> = [
        "agent-forwarding", "x11-forwarding", "user-rc", "cert-authority", "principals", "environment",
        "expiry-time", "permitopen", "permitlisten", "tunnel", "no-touch-required", "verify-required",
    ]

    /// OpenSSH options that forbid what Porter never does; accepted and ignored.
    private static let ignoredOptions: Set<String> = ["no-agent-forwarding", "no-x11-forwarding", "no-user-rc"]

    private static let flagOptions: Set<String> = [
        "restrict", "pty", "no-pty", "port-forwarding", "no-port-forwarding",
    ]

    private static let valueOptions: Set<String> = ["command", "from", "porter-allow", "porter-root"]

    /// The options field, checked and applied left to right.
    private static func parseOptions(_ field: ArraySlice<UInt8>) throws(Refusal) -> KeyOptions {
        var seen: Set<String> = []
        var restricted = false
        var pty = true
        var forwarding = true
        var command: String?
        var root: String?
        var from: AddressPatternList?
        var allowed: Set<Operation>?
        for option in try lexOptions(field) {
            let name = option.name
            let shownName = shown(option.spelling)
            guard seen.insert(name).inserted else { throw Refusal("option '\(shownName)' appears twice") }
            if flagOptions.contains(name) || ignoredOptions.contains(name) {
                guard option.value == nil else { throw Refusal("option '\(shownName)' takes no value") }
            } else if valueOptions.contains(name) {
                guard option.value != nil else {
                    throw Refusal("option '\(shownName)' needs a value: \(name)=\"…\"")
                }
            } else if unsupportedOptions.contains(name) {
                throw Refusal(
                    "option '\(shownName)' is not supported by Porter; the line is refused so that it grants no "
                        + "more than it says")
            } else {
                throw Refusal("unknown option '\(shownName)'")
            }
            for (one, other) in [("pty", "no-pty"), ("port-forwarding", "no-port-forwarding")]
            where (name == one && seen.contains(other)) || (name == other && seen.contains(one)) {
                throw Refusal("options '\(one)' and '\(other)' contradict each other")
            }
            let value = option.value ?? ""
            switch name {
            case "restrict":
                restricted = true
                pty = false
                forwarding = false
            case "pty": pty = true
            case "no-pty": pty = false
            case "port-forwarding": forwarding = true
            case "no-port-forwarding": forwarding = false
            case "command":
                guard value.unicodeScalars.contains(where: { $0 != " " && $0 != "\t" }) else {
                    throw Refusal("command= is empty")
                }
                guard !value.utf8.contains(0) else { throw Refusal("command= contains a NUL byte") }
                command = value
            case "from":
                do {
                    from = try AddressPatternList(value)
                } catch {
                    throw Refusal(error.message)
                }
            case "porter-allow": allowed = try operations(value)
            case "porter-root": root = try normalisedRoot(value)
            default: break  // an ignored option
            }
        }
        return KeyOptions(
            isRestricted: restricted, allowsPTY: pty, allowsPortForwarding: forwarding, forcedCommand: command,
            root: root, from: from, allowedOperations: allowed)
    }

    private struct RawOption {
        /// The name as written.
        var spelling: ArraySlice<UInt8>
        /// The name in ASCII lower case.
        var name: String
        /// The unquoted value, if the option has one.
        var value: String?
    }

    /// Splits the options field into options: `name` or `name="value"`, comma-separated.
    private static func lexOptions(_ field: ArraySlice<UInt8>) throws(Refusal) -> [RawOption] {
        var options: [RawOption] = []
        var index = field.startIndex
        while true {
            let start = index
            while index < field.endIndex && field[index] != Byte.equals && field[index] != Byte.comma {
                guard field[index] != Byte.quote else {
                    throw Refusal("unexpected '\"' in option '\(shown(field[start...index]))'")
                }
                index += 1
            }
            let spelling = field[start..<index]
            guard !spelling.isEmpty else {
                throw Refusal(start == field.startIndex ? "the options start with a comma" : "an option is empty")
            }
            var value: String?
            if index < field.endIndex && field[index] == Byte.equals {
                index += 1
                guard index < field.endIndex && field[index] == Byte.quote else {
                    throw Refusal("the value of option '\(shown(spelling))' must be in double quotes")
                }
                index += 1
                var bytes: [UInt8] = []
                var closed = false
                while index < field.endIndex {
                    let byte = field[index]
                    if byte == Byte.backslash && index + 1 < field.endIndex && field[index + 1] == Byte.quote {
                        bytes.append(Byte.quote)
                        index += 2
                    } else if byte == Byte.quote {
                        closed = true
                        index += 1
                        break
                    } else {
                        bytes.append(byte)
                        index += 1
                    }
                }
                guard closed else { throw Refusal("the value of option '\(shown(spelling))' has no closing quote") }
                value = String(decoding: bytes, as: UTF8.self)
            }
            options.append(
                RawOption(
                    spelling: spelling, name: String(decoding: spelling.map(Byte.lowercased), as: UTF8.self),
                    value: value))
            if index == field.endIndex { return options }
            guard field[index] == Byte.comma else {
                throw Refusal("unexpected text after the value of option '\(shown(spelling))'")
            }
            index += 1
            guard index < field.endIndex else { throw Refusal("the options end with a comma") }
        }
    }

    /// The operations named by `porter-allow`.
    private static func operations(_ value: String) throws(Refusal) -> Set<Operation> {
        guard !value.unicodeScalars.allSatisfy({ $0 == " " || $0 == "\t" }) else {
            throw Refusal("porter-allow is empty; list what the key may do (\(operationNames))")
        }
        var operations: Set<Operation> = []
        for item in Array(value.utf8).split(separator: Byte.comma, omittingEmptySubsequences: false) {
            let name = trimmingBlanks(item)
            guard !name.isEmpty else { throw Refusal("porter-allow has an empty name") }
            guard let operation = Operation(rawValue: String(decoding: name.map(Byte.lowercased), as: UTF8.self))
            else {
                throw Refusal("porter-allow names '\(shown(name))'; the operations are \(operationNames)")
            }
            operations.insert(operation)
        }
        return operations
    }

    private static var operationNames: String { Operation.allCases.map(\.rawValue).joined(separator: ", ") }

    /// `porter-root`'s value, normalised; `nil` for the root itself.
    private static func normalisedRoot(_ value: String) throws(Refusal) -> String? {
        let bytes = Array(value.utf8)
        let shownValue = shown(bytes[...])
        guard !bytes.isEmpty else { throw Refusal("porter-root is empty") }
        guard !bytes.contains(0) else { throw Refusal("porter-root contains a NUL byte") }
        guard !value.unicodeScalars.contains(where: isControl) else {
            throw Refusal("porter-root contains a control character")
        }
        guard bytes.first != Byte.slash else {
            throw Refusal("porter-root '\(shownValue)' is absolute; it must be a directory under the server's root")
        }
        guard bytes.count <= 4096 else { throw Refusal("porter-root is longer than 4096 bytes") }
        var parts: [ArraySlice<UInt8>] = []
        for part in bytes.split(separator: Byte.slash) where !part.elementsEqual([Byte.dot]) {
            guard !part.elementsEqual([Byte.dot, Byte.dot]) else {
                throw Refusal("porter-root '\(shownValue)' contains '..'")
            }
            guard part.count <= 255 else { throw Refusal("a name in porter-root is longer than 255 bytes") }
            parts.append(part)
        }
        guard !parts.isEmpty else { return nil }
        return String(decoding: Array(parts.joined(separator: [Byte.slash])), as: UTF8.self)
    }
}

// MARK: - Bytes

extension AuthorizedKeys {
    /// Text for a message: at most 48 characters, control characters as `?`.
    fileprivate static func shown(_ bytes: some Collection<UInt8>) -> String {
        let scalars = String(decoding: bytes, as: UTF8.self).unicodeScalars
        var text = String(String.UnicodeScalarView(scalars.prefix(48).map { isControl($0) ? "?" : $0 }))
        if scalars.count > 48 { text += "…" }
        return text
    }

    fileprivate static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    fileprivate enum Byte {
        static let newline = UInt8(ascii: "\n")
        static let comma = UInt8(ascii: ",")
        static let equals = UInt8(ascii: "=")
        static let quote = UInt8(ascii: "\"")
        static let backslash = UInt8(ascii: "\\")
        static let slash = UInt8(ascii: "/")
        static let dot = UInt8(ascii: ".")
        static let colon = UInt8(ascii: ":")

        static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

        static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        static func isHexDigit(_ byte: UInt8) -> Bool {
            isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
        }

        static func lowercased(_ byte: UInt8) -> UInt8 {
            byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
        }

        /// Hex digits (lower case), `.`, `:`, `*` and `?`: what a pattern that can match an address is made of.
        static func mayBeInAddressPattern(_ byte: UInt8) -> Bool {
            isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) || byte == dot || byte == colon
                || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?")
        }
    }

    fileprivate static func trimmingBlanks(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let first = bytes.firstIndex(where: { !Byte.isBlank($0) }),
            let last = bytes.lastIndex(where: { !Byte.isBlank($0) })
        else { return bytes[bytes.startIndex..<bytes.startIndex] }
        return bytes[first...last]
    }

    /// Reads a line's fields: blank-separated, the options field quote-aware.
    fileprivate struct Scanner {
        private let bytes: ArraySlice<UInt8>
        private var index: Int

        /// A scanner over one line, without its CR and trailing blanks.
        init(_ line: ArraySlice<UInt8>) {
            var line = line
            while let last = line.last, Byte.isBlank(last) || last == UInt8(ascii: "\r") { line.removeLast() }
            bytes = line
            index = line.startIndex
        }

        var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        var rest: ArraySlice<UInt8> { bytes[index...] }

        mutating func skipBlanks() {
            while index < bytes.endIndex && Byte.isBlank(bytes[index]) { index += 1 }
        }

        /// The bytes up to the next blank or the end.
        mutating func field() -> ArraySlice<UInt8> {
            let start = index
            while index < bytes.endIndex && !Byte.isBlank(bytes[index]) { index += 1 }
            return bytes[start..<index]
        }

        /// The bytes up to the next blank outside double quotes, `\"` not counting as a quote (OpenSSH's
        /// `sshkey_advance_past_options`).
        mutating func optionsField() -> ArraySlice<UInt8> {
            let start = index
            var quoted = false
            while index < bytes.endIndex && (quoted || !Byte.isBlank(bytes[index])) {
                if bytes[index] == Byte.backslash && index + 1 < bytes.endIndex && bytes[index + 1] == Byte.quote {
                    index += 1
                } else if bytes[index] == Byte.quote {
                    quoted.toggle()
                }
                index += 1
            }
            return bytes[start..<index]
        }
    }

    /// Reads SSH strings (a big-endian `uint32` length, then the bytes) from a key blob.
    fileprivate struct BlobReader {
        private let bytes: [UInt8]
        private var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var isAtEnd: Bool { offset == bytes.count }

        mutating func string() -> ArraySlice<UInt8>? {
            guard bytes.count - offset >= 4 else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard bytes.count - offset - 4 >= length else { return nil }
            defer { offset += 4 + length }
            return bytes[(offset + 4)..<(offset + 4 + length)]
        }
    }

    /// Strict base64 (RFC 4648, standard alphabet): a multiple of 4 characters, `=` padding only at the end, and the
    /// unused bits of the last character zero, as OpenSSH's decoder requires; `nil` otherwise.
    fileprivate static func decodeBase64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard !text.isEmpty, text.count % 4 == 0 else { return nil }
        func value(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): 62
            case UInt8(ascii: "/"): 63
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 4 * 3)
        var index = text.startIndex
        while index < text.endIndex {
            let quad = text[index..<index + 4]
            index += 4
            let isLast = index == text.endIndex
            let padding = quad.reversed().prefix { $0 == Byte.equals }.count
            guard padding <= 2, padding == 0 || isLast else { return nil }
            var word: UInt32 = 0
            for byte in quad.prefix(4 - padding) {
                guard let sextet = value(byte) else { return nil }
                word = word << 6 | sextet
            }
            word <<= UInt32(6 * padding)
            let decoded = [UInt8(word >> 16), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
            guard decoded[(3 - padding)...].allSatisfy({ $0 == 0 }) else { return nil }
            bytes += decoded.prefix(3 - padding)
        }
        return bytes
    }
}
