import Foundation
import Porter
import PorterProtocol
import Testing

/// The client config file's parser, from strings: what a good file means and the one error for each mistake.
@Suite struct ClientConfigFileTests {
    private static let fingerprint = "SHA256:GdRTAA26+DrPLiv2ZUJEC4iXC4o7AIwtMCaeQ7QZfIw"

    private func parse(_ text: String) throws(PorterError) -> ClientConfigFile {
        try ClientConfigFile(parsing: text, file: "~/.porter/config", directory: "/home/ann/.porter", home: "/home/ann")
    }

    @Test func theSpecificationsExampleParses() throws {
        let file = try parse(
            """
            # ~/.porter/config
            host web1
                endpoint 10.0.0.5:7070
                fingerprint \(Self.fingerprint)
                token-file ~/.porter/web.token
                connect-timeout 5
            group web web1 web2
            Host web2
                Endpoint 10.0.0.6
                plaintext   # trusted network
                token-file tokens/web2

            """)
        #expect(
            file.servers == [
                NamedServer(
                    name: "web1", endpoint: .tcp(host: "10.0.0.5", port: 7070),
                    fingerprint: Fingerprint(Self.fingerprint),
                    tokenFile: "/home/ann/.porter/web.token", connectTimeout: 5, line: 2),
                NamedServer(
                    name: "web2", endpoint: .tcp(host: "10.0.0.6", port: 7070),
                    tokenFile: "/home/ann/.porter/tokens/web2", plaintext: true, line: 8),
            ])
        #expect(file.groups == [ServerGroup(name: "web", members: ["web1", "web2"], line: 7)])
        #expect(file.server(named: "web2")?.plaintext == true)
        #expect(file.group(named: "web").map(file.members(of:))?.map(\.name) == ["web1", "web2"])
        #expect(file.server(named: "web") == nil && file.group(named: "web1") == nil)
    }

    @Test func anEmptyFileAndCommentsNameNothing() throws {
        let file = try parse("# nothing yet\n\n   \n\t# still nothing\n")
        #expect(file.servers.isEmpty && file.groups.isEmpty)
    }

    @Test func pathsAndEndpointsOfEveryForm() throws {
        let file = try parse(
            """
            host a
                endpoint unix:/run/porter.sock
                token-file /etc/porter/token
            host b
                endpoint [::1]:7071
                token-file ~
            host c
                endpoint localhost
                token-file ./t
            """)
        #expect(
            file.servers.map(\.endpoint) == [
                .unix(path: "/run/porter.sock"), .tcp(host: "::1", port: 7071), .tcp(host: "localhost", port: 7070),
            ])
        #expect(file.servers.map(\.tokenFile) == ["/etc/porter/token", "/home/ann", "/home/ann/.porter/./t"])
    }

    /// Each mistake, the line it is on, and the start of what is said about it.
    static let mistakes: [(text: String, line: Int, message: String)] = [
        (
            "host a\n    endpoint 127.0.0.1\n\n    endpont 127.0.0.1\n", 4,
            "unknown keyword 'endpont' (expected endpoint, fingerprint, token-file, key, connect-timeout, plaintext"
        ),
        ("hots a\n", 1, "unknown keyword 'hots' (expected host or group)"),
        ("# top\nendpoint 127.0.0.1\n", 2, "'endpoint' is outside any host block; start one above it with `host NAME`"),
        (
            "host a\n    endpoint 127.0.0.1\ngroup g a\n    connect-timeout 5\n", 4,
            "'connect-timeout' is outside any host block"
        ),
        ("host a\n    endpoint\n", 2, "'endpoint' needs a value: endpoint HOST:PORT"),
        ("host a\n    endpoint 127.0.0.1 7070\n", 2, "'endpoint' takes one value, got 2"),
        ("host a\n    endpoint 127.0.0.1\n    plaintext yes\n", 3, "'plaintext' takes no value"),
        ("host\n", 1, "'host' needs a name"),
        ("host a b\n", 1, "'host' takes one name, got 2"),
        ("host a:1\n", 1, "bad name 'a:1'"),
        ("host -a\n", 1, "bad name '-a'"),
        ("host a\n    endpoint 127.0.0.1\nhost a\n    endpoint 127.0.0.2\n", 3, "duplicate host 'a' (first on line 1)"),
        (
            "host a\n    endpoint 127.0.0.1\n    endpoint 127.0.0.2\n", 3,
            "duplicate 'endpoint' in host a (first on line 2)"
        ),
        ("host a\n    fingerprint \(fingerprint)\n", 1, "host a has no endpoint; add `endpoint HOST:PORT` under it"),
        ("host a\n    endpoint 127.0.0.1\ngroup g a\ngroup g a\n", 4, "duplicate group 'g' (first on line 3)"),
        ("host a\n    endpoint 127.0.0.1\ngroup g a b\n", 3, "group g names unknown host 'b'"),
        ("host a\n    endpoint 127.0.0.1\ngroup g\n", 3, "group g names no hosts"),
        ("host a\n    endpoint 127.0.0.1\ngroup g a a\n", 3, "group g names a twice"),
        ("host a\n    endpoint 127.0.0.1\ngroup g a\ngroup h g\n", 4, "group h names 'g', which is a group"),
        ("host a\n    endpoint 127.0.0.1\ngroup a a\n", 3, "'a' is already a host (line 1)"),
        (
            "host a\n    endpoint 127.0.0.1\ngroup g a\nhost g\n    endpoint 127.0.0.1\n", 4,
            "'g' is already a group (line 3)"
        ),
        ("host a\n    endpoint 127.0.0.1:99999\n", 2, "invalid endpoint '127.0.0.1:99999'"),
        ("host a\n    endpoint 127.0.0.1\n    fingerprint SHA256:short\n", 3, "bad fingerprint 'SHA256:short'"),
        (
            "host a\n    endpoint 127.0.0.1\n    connect-timeout inf\n", 3,
            "connect-timeout: give a number of seconds from 0.001 to 31536000"
        ),
        ("host a\n    endpoint 127.0.0.1\n    connect-timeout 0\n", 3, "connect-timeout: 0 seconds is out of range"),
        (
            "host a\n    endpoint 127.0.0.1\n    connect-timeout 1e300\n", 3,
            "connect-timeout: 1e300 seconds is out of range"
        ),
        ("host a\n    endpoint 127.0.0.1\n    connect-timeout -1\n", 3, "connect-timeout: -1 seconds is out of range"),
        ("host a\n    endpoint 127.0.0.1\n    token-file ~bob/token\n", 3, "'~bob/token': only '~/' is expanded"),
        (
            "host a\n    endpoint 127.0.0.1\n    fingerprint \(fingerprint)\n    plaintext\n", 4,
            "host a has both 'plaintext' and 'fingerprint'"
        ),
    ]

    @Test(arguments: mistakes)
    func aMistakeIsOneErrorNamingFileAndLine(_ mistake: (text: String, line: Int, message: String)) {
        let error = #expect(throws: PorterError.self) { try parse(mistake.text) }
        let expected = "~/.porter/config:\(mistake.line): \(mistake.message)"
        #expect(error?.message.hasPrefix(expected) == true, "\(error?.message ?? "accepted") is not \(expected)")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func aFileIsFoundByOptionThenEnvironmentAndANamedOneMustExist() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/config"
            try "host a\n    endpoint 127.0.0.1\n    token-file token\n".write(
                toFile: path, atomically: false, encoding: .utf8)
            // A relative token file is relative to the file's directory, whichever way the file was found.
            let byOption = try ClientConfigFile.load(option: path, environment: ["PORTER_CONFIG": "/nonexistent"])
            #expect(byOption?.file == path && byOption?.servers.first?.tokenFile == directory + "/token")
            let byEnvironment = try ClientConfigFile.load(option: nil, environment: ["PORTER_CONFIG": path])
            #expect(byEnvironment == byOption)
            #expect(throws: PorterError(.configuration, "config file /nonexistent (from --config) does not exist")) {
                try ClientConfigFile.load(option: "/nonexistent", environment: [:])
            }
            #expect(
                throws: PorterError(.configuration, "config file /nonexistent (from $PORTER_CONFIG) does not exist")
            ) {
                try ClientConfigFile.load(option: nil, environment: ["PORTER_CONFIG": "/nonexistent"])
            }
        }
    }

    @Test func linesAreWordsWithCommentsAndBlankLinesLeftOut() {
        let text = ConfigFileText("a b\t c  # d e\n#x\n\n  f#g  h\r\n", file: "f")
        #expect(text.lines == [.init(number: 1, words: ["a", "b", "c"]), .init(number: 4, words: ["f#g", "h"])])
        #expect(text.error(line: 4, "why").message == "f:4: why")
    }

    @Test func lineBuffersGiveOutWholeLinesAndCutOverlongOnes() {
        var buffer = LineBuffer(maxLineLength: 4)
        #expect(buffer.append(Array("ab\ncd".utf8)) == [Array("ab".utf8)])
        #expect(buffer.append(Array("e\n\nabcdefg".utf8)) == [Array("cde".utf8), [], Array("abcd".utf8)])
        #expect(buffer.finish() == Array("efg".utf8))
        #expect(buffer.finish() == nil)
    }
}
