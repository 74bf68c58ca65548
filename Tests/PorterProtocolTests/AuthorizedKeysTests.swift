import PorterProtocol
import Testing

/// Keys made with `ssh-keygen -t ed25519`, `-t ecdsa -b 256`, `-t ecdsa -b 384` and `-t rsa`.
private enum TestKeys {
    static let alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFjX alice@laptop"
    static let bob =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILFsT1XbPsM7+rGCx+FWm4m9ANgasEYUDHPOLJ/x5JQH bob at home (work key)"
    static let carol =
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKaHRbD6Vruw6jccpgNqvLebZbg/DJjiCTQ2"
        + "g07CJoUqlOqes2soAKGb/7WKo4PDuFwOz+TlCY6gXDrXEAlNae8= carol@ci"
    static let dave384 =
        "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBLOi92AxOQaT+NQDZt2DhflRVRYfXASxgRYs"
        + "0efNJ82hjwGPV53vIfbSPt4oyacP4wZVi0LzZI2okzCm/N5Tgi3UeYYZTM1ZO8T8mW8PbWDj8ZKneoIeKOAiWDSFNe7Wtg== dave"
    static let erinRSA =
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDG2O+woc8i18KD169+Eg5Y+CYF/t4JlsCEosmqkEzOyKEw0+onwrgZf7fZMLaQGBb4zvNG"
        + "dd6GeOfwm/lYcUNY77tPwLp3FR+X/a02XJK5bGtthXiewN3bi2U36co7DQoslSO0cpaLQGLkJU5bgpNW5rqHlMrE1evAt4WXavcIcPU31V9Z"
        + "Wsh7YHRABYFAcKw15U74UxSn425scRzPXm3t6N14k+Gd+52jbooGwo0ukDRRewpv4jISfp0Rhpv1jkC9e1h+nuB7IANILnT2k0T45ejWWebB"
        + "3943A1OywG6QIlo/FqZvKNo0RLRKo4K8n9r98KT1lzQHd9Fq78TD2EsT erin"

    /// The key data of `alice`, decoded.
    static let aliceBlob = hex(
        "0000000b7373682d6564323535313900000020f323e7419f1aac8daee9e80437aa03a58d44d5b93d2ee1af79d03544367858d7")
    static let aliceData = "AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFjX"
    static let carolData =
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKaHRbD6Vruw6jccpgNqvLebZbg/DJjiCTQ2g07CJoUqlOqes2soAKGb"
        + "/7WKo4PDuFwOz+TlCY6gXDrXEAlNae8="

    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8).map { UInt8(String(UnicodeScalar($0)), radix: 16)! }
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }
}

private let keysFilePath = "/etc/porter/authorized_keys"

/// Parses one line, which must be accepted.
private func acceptedEntry(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> AuthorizedKeys.Entry
{
    let keys = AuthorizedKeys(text: line, path: keysFilePath)
    #expect(keys.problems == [], sourceLocation: sourceLocation)
    return try #require(keys.entries.first, sourceLocation: sourceLocation)
}

/// Parses one line, which must be refused, and returns its problem's message.
private func refusalMessage(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let keys = AuthorizedKeys(text: line, path: keysFilePath)
    #expect(keys.entries == [], sourceLocation: sourceLocation)
    let problem = try #require(keys.problems.first, sourceLocation: sourceLocation)
    #expect(keys.problems.count == 1, sourceLocation: sourceLocation)
    #expect(problem.line == 1 && problem.path == keysFilePath, sourceLocation: sourceLocation)
    return problem.message
}

/// The arguments of the parameterised tests: (line or value, expected result or part of the message).
private enum AuthorizedKeysCases {
    static let normalisedRoots: [(String, String)] = [
        ("./a//b/", "a/b"), ("home/alice", "home/alice"), ("a/./b/.", "a/b"), ("x y/z", "x y/z"),
    ]

    static let escapingRoots: [(String, String)] = [
        ("..", "'..'"), ("a/../b", "'..'"), ("a/..", "'..'"), ("/srv/files", "absolute"), ("//x", "absolute"),
        ("", "empty"), ("a\u{0}b", "NUL"), ("a\u{1B}[2Jb", "control"), ("a\u{85}", "control"),
    ]

    static let badOptions: [(String, String)] = [
        (#"frobnicate \#(TestKeys.alice)"#, "unknown option 'frobnicate'"),
        (#"no-pty,Frob="1" \#(TestKeys.alice)"#, "unknown option 'Frob'"),
        (#"permitopen="localhost:80" \#(TestKeys.alice)"#, "'permitopen' is not supported"),
        (#"expiry-time="20300101" \#(TestKeys.alice)"#, "'expiry-time' is not supported"),
        (#"cert-authority \#(TestKeys.alice)"#, "'cert-authority' is not supported"),
        (#"agent-forwarding \#(TestKeys.alice)"#, "'agent-forwarding' is not supported"),
        (#"no-pty,no-pty \#(TestKeys.alice)"#, "appears twice"),
        (#"command="a",COMMAND="b" \#(TestKeys.alice)"#, "appears twice"),
        (#"pty,no-pty \#(TestKeys.alice)"#, "contradict"),
        (#"no-port-forwarding,port-forwarding \#(TestKeys.alice)"#, "contradict"),
        (#"no-pty="yes" \#(TestKeys.alice)"#, "takes no value"),
        (#"command \#(TestKeys.alice)"#, "needs a value"),
        (#"command=ls \#(TestKeys.alice)"#, "double quotes"),
        (#"command="ls \#(TestKeys.alice)"#, "no closing quote"),
        (#"command="ls"x \#(TestKeys.alice)"#, "unexpected text"),
        (#"no-pty, \#(TestKeys.alice)"#, "end with a comma"),
        (#"no-pty,,restrict \#(TestKeys.alice)"#, "empty"),
        (#",no-pty \#(TestKeys.alice)"#, "start with a comma"),
        (#"command="" \#(TestKeys.alice)"#, "command= is empty"),
        (#"command="  " \#(TestKeys.alice)"#, "command= is empty"),
        (#"porter-allow="get,sftp" \#(TestKeys.alice)"#, "porter-allow names 'sftp'"),
        (#"porter-allow="" \#(TestKeys.alice)"#, "porter-allow is empty"),
        (#"porter-allow="get,,put" \#(TestKeys.alice)"#, "empty name"),
        (#"from="" \#(TestKeys.alice)"#, "empty pattern"),
        (#"from="10.0.0.1/8" \#(TestKeys.alice)"#, "the block is 10.0.0.0/8"),
        (#"from="10.0.0.0/33" \#(TestKeys.alice)"#, "not an address block"),
        (#"from="10.0.0/8" \#(TestKeys.alice)"#, "not an address block"),
        (#"from="2001:db8::1/32" \#(TestKeys.alice)"#, "the block is 2001:db8::/32"),
        (#"from="!*.example.com,*" \#(TestKeys.alice)"#, "names a host"),
        ("restrict", "no key after the options"),
    ]

    static let badKeys: [(String, String)] = [
        (TestKeys.erinRSA, "key type ssh-rsa is not supported; use ssh-ed25519 or ecdsa-sha2-nistp256"),
        ("restrict " + TestKeys.erinRSA, "key type ssh-rsa is not supported; use ssh-ed25519 or ecdsa-sha2-nistp256"),
        (TestKeys.dave384, "key type ecdsa-sha2-nistp384 is not supported"),
        ("sk-ssh-ed25519@openssh.com AAAA x", "key type sk-ssh-ed25519@openssh.com is not supported"),
        ("ssh-foo AAAAB3NzaC1mb28AAAAgeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=", "key type ssh-foo is not"),
        ("no-pty hello " + TestKeys.aliceData, "'hello' is not a key type"),
        (TestKeys.aliceData + " alice", "key type is missing"),
        ("ssh-ed25519", "no key data"),
        ("ssh-ed25519 " + TestKeys.carolData, "the key data is for ecdsa-sha2-nistp256 but the line says ssh-ed25519"),
        ("ecdsa-sha2-nistp256 " + TestKeys.aliceData, "is for ssh-ed25519 but the line says ecdsa-sha2-nistp256"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFj", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFjX=", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eF!X", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH/Mj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFh=", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH/Mj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFg=", "malformed"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMj50GfGqyNrunoBDeqA6WNRNW5PS7hr3nQNUQ2eFjXAA==", "malformed"),
        ("ssh-ed25519 /////3NzaC1lZDI1NTE5", "too short"),
        (
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAAAhAqaHRbD6Vruw6jccpgNqvLebZbg/DJji"
                + "CTQ2g07CJoUq", "uncompressed P-256 point"
        ),
        (
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAzODQAAABBBKaHRbD6Vruw6jccpgNqvLebZbg/DJji"
                + "CTQ2g07CJoUqlOqes2soAKGb/7WKo4PDuFwOz+TlCY6gXDrXEAlNae8=", "uncompressed P-256 point"
        ),
        ("hello world", "unknown option 'hello'"),
    ]
}

@Suite struct AuthorizedKeysTests {
    // MARK: Lines and keys

    @Test func plainLinesParse() throws {
        let keys = AuthorizedKeys(
            text: [TestKeys.alice, TestKeys.bob, TestKeys.carol].joined(separator: "\n"), path: keysFilePath)
        #expect(keys.problems == [])
        #expect(keys.entries.map(\.keyType) == ["ssh-ed25519", "ssh-ed25519", "ecdsa-sha2-nistp256"])
        #expect(keys.entries.map(\.line) == [1, 2, 3])
        #expect(keys.entries.map(\.comment) == ["alice@laptop", "bob at home (work key)", "carol@ci"])
        #expect(keys.entries[0].keyBlob == TestKeys.aliceBlob)
        #expect(keys.entries[2].keyBlob.count == 4 + 19 + 4 + 8 + 4 + 65)
        for entry in keys.entries {
            #expect(entry.options == AuthorizedKeys.KeyOptions())
            #expect(AuthorizedKeys.Operation.allCases.allSatisfy(entry.options.permits))
            #expect(entry.options.permits(address: "203.0.113.9"))
        }
    }

    @Test func commentsBlankLinesAndLineEndings() throws {
        let text = "# Porter keys\r\n\r\n   \t\n  # indented comment\n\t\(TestKeys.alice)  \t\r\n\(TestKeys.carol)\n"
        let keys = AuthorizedKeys(text: text, path: keysFilePath)
        #expect(keys.problems == [])
        #expect(keys.entries.map(\.line) == [5, 6])
        #expect(keys.entries[0].comment == "alice@laptop")
        #expect(try acceptedEntry("ssh-ed25519 \(TestKeys.aliceData)").comment == "")
        #expect(
            try acceptedEntry("ssh-ed25519\t\(TestKeys.aliceData)\tsome  spaced\tcomment ").comment
                == "some  spaced\tcomment")
        #expect(AuthorizedKeys(text: "", path: keysFilePath).entries.isEmpty)
    }

    @Test func lookupByBlob() throws {
        let text = [TestKeys.alice, TestKeys.bob, #"restrict \#(TestKeys.alice)"#].joined(separator: "\n")
        let keys = AuthorizedKeys(text: text, path: keysFilePath)
        #expect(keys.entries(matching: TestKeys.aliceBlob).map(\.line) == [1, 3])
        #expect(keys.first(matching: TestKeys.aliceBlob)?.line == 1)
        #expect(keys.first(matching: [0, 0, 0, 1, 0]) == nil)
        #expect(keys.entries(matching: []) == [])
    }

    /// OpenSSH takes the first line for the key whose `from=` permits the client.
    @Test func firstMatchingLineForTheClientAddress() throws {
        let text = [#"from="10.0.0.0/8",porter-allow="get" \#(TestKeys.alice)"#, #"restrict \#(TestKeys.alice)"#]
        let keys = AuthorizedKeys(text: text.joined(separator: "\n"), path: keysFilePath)
        #expect(keys.first(matching: TestKeys.aliceBlob, from: "10.1.2.3")?.line == 1)
        #expect(keys.first(matching: TestKeys.aliceBlob, from: "192.0.2.1")?.line == 2)
        let onlyFrom = AuthorizedKeys(text: text[0], path: keysFilePath)
        #expect(onlyFrom.first(matching: TestKeys.aliceBlob, from: "192.0.2.1") == nil)
    }

    // MARK: Options

    @Test func restrictTurnsOffPTYAndForwarding() throws {
        let options = try acceptedEntry("restrict \(TestKeys.alice)").options
        #expect(options.isRestricted && !options.allowsPTY && !options.allowsPortForwarding)
        #expect(options.permittedOperations == [.exec, .get, .put, .ls, .chat, .echo])
        #expect(!options.permits(.shell) && !options.permits(.forward))
    }

    @Test func restrictCanBeReopenedAfterwards() throws {
        let pty = try acceptedEntry("restrict,pty \(TestKeys.alice)").options
        #expect(pty.allowsPTY && !pty.allowsPortForwarding && pty.permits(.shell) && !pty.permits(.forward))
        let forwarding = try acceptedEntry("RESTRICT,Port-Forwarding \(TestKeys.alice)").options
        #expect(!forwarding.allowsPTY && forwarding.allowsPortForwarding && forwarding.permits(.forward))
        // As in OpenSSH the flags apply left to right: restrict undoes a pty before it.
        #expect(!(try acceptedEntry("pty,restrict \(TestKeys.alice)").options.allowsPTY))
        // Without restrict the positive forms change nothing.
        #expect(try acceptedEntry("pty,port-forwarding \(TestKeys.alice)").options.permittedOperations.count == 8)
    }

    @Test func noPTYAndNoPortForwarding() throws {
        let noPTY = try acceptedEntry("no-pty \(TestKeys.alice)").options
        #expect(!noPTY.allowsPTY && noPTY.allowsPortForwarding && !noPTY.permits(.shell) && noPTY.permits(.exec))
        #expect(!noPTY.isRestricted)
        let noForwarding = try acceptedEntry("no-port-forwarding \(TestKeys.alice)").options
        #expect(noForwarding.allowsPTY && !noForwarding.permits(.forward) && noForwarding.permits(.shell))
    }

    /// Lines generated for OpenSSH commonly carry these; Porter has none of what they forbid.
    @Test func openSSHRestrictionsPorterHasNothingForAreAccepted() throws {
        let line = #"command="backup",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-user-rc,no-pty "#
        let options = try acceptedEntry(line + TestKeys.carol).options
        #expect(options.forcedCommand == "backup")
        #expect(options.permittedOperations == [.exec])
    }

    @Test func forcedCommand() throws {
        let options = try acceptedEntry(#"command="/usr/bin/backup --all" \#(TestKeys.alice)"#).options
        #expect(options.forcedCommand == "/usr/bin/backup --all")
        // A forced command replaces every session request, file transfer included, but not port forwarding.
        #expect(options.permittedOperations == [.exec, .shell, .forward])
        // An explicit porter-allow is the base set instead.
        let allowed = try acceptedEntry(#"command="rsync-wrapper",porter-allow="exec,put" \#(TestKeys.alice)"#).options
        #expect(allowed.permittedOperations == [.exec, .put])
    }

    @Test func quotingAndEscapes() throws {
        let quoted = try acceptedEntry(#"command="echo \"hi, there\" \\x",no-pty \#(TestKeys.alice)"#).options
        #expect(quoted.forcedCommand == #"echo "hi, there" \\x"#)
        #expect(!quoted.allowsPTY)
        let tabbed = try acceptedEntry("command=\"a\tb  c\" \(TestKeys.alice)").options
        #expect(tabbed.forcedCommand == "a\tb  c")
        // A backslash before anything but a quote is itself, so, as in OpenSSH, a value cannot end in one.
        #expect(try acceptedEntry(#"command="C:\dir\x" \#(TestKeys.alice)"#).options.forcedCommand == #"C:\dir\x"#)
        #expect(try refusalMessage(#"command="C:\dir\" \#(TestKeys.alice)"#).contains("no closing quote"))
        #expect(try refusalMessage(#"command="C:\dir\\" \#(TestKeys.alice)"#).contains("no closing quote"))
        #expect(try acceptedEntry(#"CoMmAnD="x" \#(TestKeys.alice)"#).options.forcedCommand == "x")
    }

    @Test func porterAllow() throws {
        let options = try acceptedEntry(#"porter-allow="get,ls, Chat" \#(TestKeys.alice)"#).options
        #expect(options.allowedOperations == [.get, .ls, .chat])
        #expect(options.permittedOperations == [.get, .ls, .chat])
        #expect(!options.permits(.put) && !options.permits(.exec))
        // The flags still apply: porter-allow only narrows.
        let narrowed = try acceptedEntry(#"restrict,porter-allow="shell,exec,forward,echo" \#(TestKeys.alice)"#).options
        #expect(narrowed.permittedOperations == [.exec, .echo])
        let everything = AuthorizedKeys.Operation.allCases.map(\.rawValue).joined(separator: ",")
        #expect(
            try acceptedEntry(#"porter-allow="\#(everything)" \#(TestKeys.bob)"#).options.permittedOperations.count == 8
        )
        #expect(
            AuthorizedKeys.Operation.allCases.map(\.rawValue) == [
                "exec", "shell", "get", "put", "ls", "chat", "echo", "forward",
            ])
    }

    @Test(arguments: AuthorizedKeysCases.normalisedRoots)
    func porterRootIsNormalised(value: String, expected: String) throws {
        #expect(try acceptedEntry(#"porter-root="\#(value)" \#(TestKeys.alice)"#).options.root == expected)
    }

    @Test func porterRootOfTheRootItselfIsNoConfinement() throws {
        #expect(try acceptedEntry(#"porter-root="." \#(TestKeys.alice)"#).options.root == nil)
        #expect(try acceptedEntry(#"porter-root="./" \#(TestKeys.alice)"#).options.root == nil)
    }

    @Test(arguments: AuthorizedKeysCases.escapingRoots)
    func porterRootOutsideTheRootIsRefused(value: String, expected: String) throws {
        let message = try refusalMessage(#"porter-root="\#(value)" \#(TestKeys.alice)"#)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func everyOptionTogether() throws {
        let line =
            #"restrict,pty,command="run",from="192.0.2.0/24,!192.0.2.7","#
            + #"porter-allow="exec,shell,get",porter-root="u/alice" "#
        let options = try acceptedEntry(line + TestKeys.bob).options
        #expect(options.isRestricted && options.allowsPTY && !options.allowsPortForwarding)
        #expect(options.forcedCommand == "run" && options.root == "u/alice")
        #expect(options.from?.text == "192.0.2.0/24,!192.0.2.7")
        #expect(options.permittedOperations == [.exec, .shell, .get])
        #expect(options.permits(address: "192.0.2.8") && !options.permits(address: "192.0.2.7"))
        #expect(!options.permits(address: "198.51.100.1"))
    }

    // MARK: Refused lines

    @Test(arguments: AuthorizedKeysCases.badOptions)
    func badOptionsRefuseTheLine(line: String, expected: String) throws {
        let message = try refusalMessage(line)
        #expect(message.contains(expected), "\(message)")
    }

    @Test(arguments: AuthorizedKeysCases.badKeys)
    func badKeysRefuseTheLine(line: String, expected: String) throws {
        let message = try refusalMessage(line)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func aBadLineAmongGoodOnesIsOneProblem() throws {
        let text = [
            "# team keys", TestKeys.alice, #"porter-alow="get" \#(TestKeys.bob)"#, TestKeys.erinRSA, "", TestKeys.carol,
        ].joined(separator: "\n")
        let keys = AuthorizedKeys(text: text, path: keysFilePath)
        #expect(keys.entries.map(\.comment) == ["alice@laptop", "carol@ci"])
        #expect(keys.entries.map(\.line) == [2, 6])
        #expect(keys.problems.map(\.line) == [3, 4])
        #expect(keys.problems[0].description == "/etc/porter/authorized_keys:3: unknown option 'porter-alow'")
        #expect(
            keys.problems[1].description
                == "/etc/porter/authorized_keys:4: key type ssh-rsa is not supported; use ssh-ed25519 or "
                + "ecdsa-sha2-nistp256")
    }

    /// Unlike OpenSSH, which would go on to line 2, a refused line for a key stops the lookup of that key.
    @Test func aRefusedLineStopsTheLookupOfItsKey() throws {
        let text = [
            #"from="10.0.0.0/8",porter-allow="gett" \#(TestKeys.alice)"#, TestKeys.alice, TestKeys.bob,
        ].joined(separator: "\n")
        let keys = AuthorizedKeys(text: text, path: keysFilePath)
        #expect(keys.entries.map(\.line) == [2, 3])
        #expect(keys.entries(matching: TestKeys.aliceBlob) == [])
        #expect(keys.first(matching: TestKeys.aliceBlob) == nil)
        #expect(keys.first(matching: TestKeys.aliceBlob, from: "10.0.0.1") == nil)
        let bob = try #require(keys.entries.last)
        #expect(keys.first(matching: bob.keyBlob)?.line == 3)
        // A line before the refused one still counts.
        let earlier = AuthorizedKeys(
            text: [TestKeys.alice, "no-pty,bogus " + TestKeys.alice].joined(separator: "\n"), path: keysFilePath)
        #expect(earlier.entries(matching: TestKeys.aliceBlob).map(\.line) == [1])
        // So does a mismatched type on a line whose key data can be read.
        let mismatch = AuthorizedKeys(
            text: "ecdsa-sha2-nistp256 \(TestKeys.aliceData)\n\(TestKeys.alice)", path: keysFilePath)
        #expect(mismatch.first(matching: TestKeys.aliceBlob) == nil)
    }

    /// A mistake that hides the key from the parser (a blank after a comma splits the options; a line too long is
    /// not parsed at all) still blocks the later lines for that key.
    @Test func aRefusedLineBlocksItsKeyWhereverTheKeyStands() {
        for refused in [
            #"restrict, porter-allow="ls" \#(TestKeys.alice)"#,
            #"porter-allow="ls",bogus= \#(TestKeys.alice)"#,
            #"restrict,porter-allow="ls" "# + String(repeating: "x", count: AuthorizedKeys.maxLineLength) + " "
                + TestKeys.alice,
        ] {
            let keys = AuthorizedKeys(text: [refused, TestKeys.alice].joined(separator: "\n"), path: keysFilePath)
            #expect(keys.problems.map(\.line) == [1])
            #expect(keys.entries(matching: TestKeys.aliceBlob) == [], "\(refused.prefix(40))")
        }
    }

    @Test func refusingAnEntryLater() throws {
        let keys = AuthorizedKeys(
            text: [TestKeys.alice, TestKeys.bob, TestKeys.alice].joined(separator: "\n"), path: keysFilePath)
        let first = try #require(keys.first(matching: TestKeys.aliceBlob))
        let refused = keys.refusing(first, because: "the key is revoked")
        #expect(refused.first(matching: TestKeys.aliceBlob) == nil)
        #expect(refused.entries.map(\.line) == [2, 3])
        #expect(refused.problems.map(\.description) == ["/etc/porter/authorized_keys:1: the key is revoked"])
    }

    @Test func longLinesAreRefusedUnread() throws {
        let long = "restrict," + String(repeating: "no-pty,", count: 3000) + "no-pty " + TestKeys.alice
        #expect(try refusalMessage(long).contains("longer than 16384 bytes"))
        let keys = AuthorizedKeys(text: long + "\n" + TestKeys.bob, path: keysFilePath)
        #expect(keys.entries.map(\.line) == [2] && keys.problems.map(\.line) == [1])
        let longComment = TestKeys.alice + " " + String(repeating: "x", count: AuthorizedKeys.maxLineLength)
        #expect(try refusalMessage(longComment).contains("longer than"))
        #expect(try acceptedEntry("# " + String(repeating: "y", count: 100_000) + "\n" + TestKeys.alice).line == 2)
    }

    @Test func messagesShowAtMostAShortPieceOfTheLine() throws {
        let message = try refusalMessage(String(repeating: "z", count: 5000) + "\u{1B} " + TestKeys.alice)
        #expect(message.count < 120 && message.hasSuffix("…'"))
        #expect(!(try refusalMessage("a\u{1B}b " + TestKeys.alice)).contains("\u{1B}"))
    }

    // MARK: from=

    private func patterns(_ text: String) throws -> AuthorizedKeys.AddressPatternList {
        try AuthorizedKeys.AddressPatternList(text)
    }

    @Test func negationDeniesAndAnyPositiveMatchPermits() throws {
        let list = try patterns("!127.0.0.2,127.0.0.*")
        #expect(!list.permits(address: "127.0.0.2"))
        #expect(list.permits(address: "127.0.0.1"))
        #expect(list.permits(address: "127.0.0.254"))
        #expect(!list.permits(address: "10.0.0.1"))
        // The order does not matter.
        #expect(!(try patterns("127.0.0.*,!127.0.0.2")).permits(address: "127.0.0.2"))
        // Only negations never permit.
        #expect(!(try patterns("!10.0.0.1")).permits(address: "10.0.0.2"))
    }

    @Test func cidrBlocks() throws {
        let v4 = try patterns("10.0.0.0/8,192.168.1.128/25,203.0.113.7")
        for address in ["10.0.0.0", "10.255.255.255", "192.168.1.128", "192.168.1.255", "203.0.113.7"] {
            #expect(v4.permits(address: address), "\(address)")
        }
        for address in ["11.0.0.0", "9.255.255.255", "192.168.1.127", "203.0.113.8", "::1", "", "garbage"] {
            #expect(!v4.permits(address: address), "\(address)")
        }
        let v6 = try patterns("2001:db8::/32,::1,fe80::/10")
        for address in ["2001:db8::1", "2001:DB8:ffff::abcd", "2001:0db8:0000:0000:0000:0000:0000:0001", "::1"] {
            #expect(v6.permits(address: address), "\(address)")
        }
        for address in ["2001:db9::1", "::2", "127.0.0.1", "fec0::1"] {
            #expect(!v6.permits(address: address), "\(address)")
        }
        #expect(v6.permits(address: "fe80::1%eth0"))
        #expect(try patterns("0.0.0.0/0").permits(address: "198.51.100.3"))
        #expect(try patterns("::/0").permits(address: "2001:db8::5"))
        #expect(!(try patterns("::/0")).permits(address: "198.51.100.3"))
        #expect(!(try patterns("!192.0.2.0/24,*")).permits(address: "192.0.2.200"))
        #expect(try patterns("!192.0.2.0/24,*").permits(address: "192.0.3.1"))
    }

    @Test func ipv4MappedAddressesCountAsIPv4() throws {
        let list = try patterns("127.0.0.0/8")
        #expect(list.permits(address: "::ffff:127.0.0.1"))
        #expect(list.permits(address: "::FFFF:7f00:1"))
        #expect(try patterns("::ffff:10.0.0.0/104").permits(address: "10.1.1.1"))
        #expect(try patterns("::ffff:10.1.1.1").permits(address: "10.1.1.1"))
        #expect(!(try patterns("!127.0.0.1,*")).permits(address: "::ffff:127.0.0.1"))
    }

    @Test func wildcards() throws {
        let list = try patterns("192.168.?.*, 2001:db8::*")
        #expect(list.permits(address: "192.168.5.77"))
        #expect(!list.permits(address: "192.168.55.77"))
        #expect(list.permits(address: "2001:db8::42"))
        // IPv6 text is compared in its RFC 5952 form.
        #expect(list.permits(address: "2001:0DB8:0:0:0:0:0:42"))
        #expect(!list.permits(address: "2001:db8:1::42"))
        #expect(try patterns("*").permits(address: "203.0.113.1"))
        #expect(try patterns("*:*").permits(address: "::1"))
        #expect(!(try patterns("*:*")).permits(address: "127.0.0.1"))
        #expect(try patterns("1*1*1*1").permits(address: "10.1.100.1"))
        #expect(!(try patterns("1*1*1*2")).permits(address: "10.1.100.1"))
        #expect(try patterns("**.*.*.?**").permits(address: "1.2.3.4"))
    }

    @Test func hostNamePatternsNeverMatch() throws {
        let list = try patterns("*.example.com,localhost,203.0.113.5")
        #expect(!list.permits(address: "127.0.0.1"))
        #expect(list.permits(address: "203.0.113.5"))
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("!bad.example.com") }
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("!") }
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("10.0.0.0/,*") }
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("10.0.0.0/+8") }
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("::1::/64") }
        #expect(throws: AuthorizedKeys.AddressPatternList.Invalid.self) { try patterns("1:2:3:4:5:6:7:8:9/64") }
        // A negated address wildcard is fine.
        #expect(!(try patterns("!10.0.*,*")).permits(address: "10.0.3.4"))
    }

    @Test func addressTextThatIsNoAddress() throws {
        for text in ["1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", ":::", "1:2", "12345::", "+1::", "[::1]"] {
            #expect(!(try patterns("0.0.0.0/0,::/0")).permits(address: text), "\(text)")
        }
        #expect(try patterns("1:2:3:4:5:6:7::").permits(address: "1:2:3:4:5:6:7:0"))
        #expect(try patterns("::2:3:4:5:6:7:8").permits(address: "0:2:3:4:5:6:7:8"))
        #expect(try patterns("1:2:3:4:5:6:1.2.3.4").permits(address: "1:2:3:4:5:6:102:304"))
    }

    // MARK: Robustness

    /// Mutated and random lines never crash, and each line is either an entry or one problem.
    @Test func garbageNeverCrashes() {
        var random = SplitMix(seed: 0x5EED)
        let seeds = [
            TestKeys.alice, TestKeys.carol, TestKeys.erinRSA,
            #"restrict,pty,command="a \"b\" c",from="10.0.0.0/8,!10.0.0.1,fe80::*",porter-root="x/y" "# + TestKeys.bob,
            #"porter-allow="get,put",no-pty,NO-PORT-FORWARDING "# + TestKeys.carol,
        ]
        let alphabet = Array(#"  "\,=!*?/:.#-abcAZ09+é\#t"#.unicodeScalars) + ["\u{0}", "\u{301}", "\r", "\u{1B}"]
        for round in 0..<4000 {
            var scalars = Array(seeds[round % seeds.count].unicodeScalars)
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let position = Int.random(in: 0...scalars.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where position < scalars.count: scalars.remove(at: position)
                case 1: scalars.insert(alphabet.randomElement(using: &random)!, at: position)
                case 2 where position < scalars.count: scalars[position] = alphabet.randomElement(using: &random)!
                default: scalars = Array(scalars.prefix(position))
                }
            }
            var line = String(String.UnicodeScalarView(scalars))
            line.removeAll { $0 == "\n" }
            let keys = AuthorizedKeys(text: line, path: keysFilePath)
            #expect(keys.entries.count + keys.problems.count <= 1)
            for problem in keys.problems {
                #expect(problem.line == 1 && problem.description.hasPrefix(keysFilePath + ":1: "))
            }
            for entry in keys.entries {
                _ = entry.options.permittedOperations
                _ = entry.options.permits(address: "10.0.0.1")
                _ = keys.first(matching: entry.keyBlob, from: "fe80::1")
            }
        }
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            let keys = AuthorizedKeys(text: String(decoding: bytes, as: UTF8.self), path: keysFilePath)
            #expect(keys.entries.count + keys.problems.count <= bytes.count + 1)
            for pattern in ["*", "!?", "10.0.0.0/8"] {
                _ = try? AuthorizedKeys.AddressPatternList(pattern).permits(
                    address: String(decoding: bytes, as: UTF8.self))
            }
            _ = try? AuthorizedKeys.AddressPatternList(String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func substringsAndManyLines() throws {
        let text = String(repeating: TestKeys.alice + "\n" + TestKeys.bob + "\n", count: 500)
        let keys = AuthorizedKeys(text: text[...], path: keysFilePath)
        #expect(keys.entries.count == 1000 && keys.problems.isEmpty)
        #expect(keys.entries(matching: TestKeys.aliceBlob).count == 500)
    }
}
