import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// No symlink that either side of a transfer creates ever resolves outside its tree, whatever the chain of links,
/// the order in which they are made or their depth: checked on corpora of chains, in both directions, with an
/// oracle that resolves each link step by step the way the kernel does.
@Suite(.timeLimit(.minutes(2))) struct SymlinkConfinementTests {
    /// The chain of the report: each link reads as inside, and together they climb out.
    static let reportedChain: [(path: String, target: String)] = [
        ("a/up", ".."), ("a/up2", "up/.."), ("a/up3", "up2/.."), ("a/up4", "up3/.."),
        ("notes.txt", "a/up4/outside/secret.txt"),
    ]

    /// The directories of every generated tree.
    static let directories = ["a", "a/b", "c"]

    /// `count` links in a tree of ``directories``: random places, names and targets of up to five components
    /// drawn from names in the tree, links' names, `..` and `.`, always with the reported chain among them.
    static func corpus(seed: UInt64, count: Int) -> [(path: String, target: String)] {
        var random = SplitMix(seed: seed)
        let places = [""] + directories
        let names = ["l1", "l2", "l3", "up", "up2", "x"]
        let parts = ["..", "..", ".", "a", "b", "c", "f", "outside", "secret.txt"] + names
        var links = reportedChain
        for _ in 0..<count {
            let place = places.randomElement(using: &random)!
            let name = names.randomElement(using: &random)!
            let target = (0..<Int.random(in: 1...5, using: &random)).map { _ in parts.randomElement(using: &random)! }
            links.append((place.isEmpty ? name : place + "/" + name, target.joined(separator: "/")))
        }
        links.shuffle(using: &random)
        // One link per name, as in a real tree.
        var seen: Set<String> = []
        return links.filter { seen.insert($0.path).inserted }
    }

    /// Every symlink beneath `root` that resolves outside it (or to an absolute path), as `path -> target`.
    static func escapingLinks(in root: String) -> [String] {
        tree(root).compactMap { path in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path) else {
                return nil
            }
            let above = PeerPath.split(path).dropLast().map(String.init)
            return resolvesOutside(
                root, from: above, PeerPath.split(target).map(String.init), absolute: target.hasPrefix("/"))
                ? "\(path) -> \(target)" : nil
        }
    }

    /// Whether resolving `components` from the real directory `directory` (components beneath `root`) climbs out
    /// of `root`; `..` goes to the physical parent of where resolution is, as in the kernel.
    private static func resolvesOutside(
        _ root: String, from directory: [String], _ components: [String], absolute: Bool, expansions: Int = 0
    ) -> Bool {
        if absolute { return true }
        var here = directory
        var expansions = expansions
        return walk(root, &here, components, &expansions)
    }

    /// Resolves `components` from `here`, leaving `here` where it ends; `true` as soon as it leaves `root`.
    private static func walk(
        _ root: String, _ here: inout [String], _ components: [String], _ expansions: inout Int
    ) -> Bool {
        for part in components where part != "." {
            if part == ".." {
                if here.isEmpty { return true }
                here.removeLast()
                continue
            }
            let path = ([root] + here + [part]).joined(separator: "/")
            var status = stat()
            guard lstat(path, &status) == 0 else { return false }  // missing: resolution stops here
            if status.st_mode & S_IFMT == S_IFLNK {
                expansions += 1
                guard expansions <= 40, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path)
                else { return false }  // a loop, as the kernel's ELOOP
                if target.hasPrefix("/") { return true }
                if walk(root, &here, PeerPath.split(target).map(String.init), &expansions) { return true }
            } else {
                here.append(part)
            }
        }
        return false
    }

    /// ``directories`` beneath `root`, with a file `f` in each, and `base/outside/secret.txt`.
    private func makeTree(_ base: String, root: String) throws {
        for directory in Self.directories {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
            try "inside".write(toFile: root + "/" + directory + "/f", atomically: false, encoding: .utf8)
        }
        try? FileManager.default.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        try? "secret".write(toFile: base + "/outside/secret.txt", atomically: false, encoding: .utf8)
    }

    @Test func theOracleSeesTheReportedChainEscape() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/served"
            try makeTree(base, root: root)
            for (path, target) in Self.reportedChain {
                try FileManager.default.createSymbolicLink(atPath: root + "/" + path, withDestinationPath: target)
            }
            #expect(Set(Self.escapingLinks(in: root)) == Set(Self.reportedChain.dropFirst().map { "\($0) -> \($1)" }))
        }
    }

    /// The server side: `file.symlink` as the server carries it out, on corpora made in random orders.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func serverSymlinksNeverLeadOut(seed: UInt64) async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/served"
            try makeTree(base, root: root)
            let confined = try ConfinedDirectory(path: root)
            var made = 0
            for (path, target) in Self.corpus(seed: seed, count: 60) {
                let components = try PeerPath.components(of: path)
                if (try? confined.makeSymlink(components, target: target)) != nil { made += 1 }
            }
            #expect(made > 5, "some links are made")
            #expect(Self.escapingLinks(in: root) == [])
            #expect(tree(root).allSatisfy { !$0.contains(".porter-link-") }, "no temporary link is left")
        }
    }

    /// A link that would lead out through a symlink something else put in the tree, or that would be made in a
    /// directory reached through a symlink, is refused: the rule's induction covers only links Porter makes.
    @Test func linksThroughForeignSymlinksAreRefused() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/served"
            try makeTree(base, root: root)
            try FileManager.default.createSymbolicLink(atPath: root + "/out", withDestinationPath: "../outside")
            try FileManager.default.createSymbolicLink(atPath: root + "/a/up", withDestinationPath: "..")
            let confined = try ConfinedDirectory(path: root)
            for (path, target) in [
                ("l", "out"), ("l", "out/secret.txt"), ("c/l", "../out"), ("out/l", "x"), ("a/up/l", "c"),
                ("a/up/a/l", "f"),
            ] {
                #expect(throws: ProtocolError.self, "\(path) -> \(target)") {
                    try confined.makeSymlink(try PeerPath.components(of: path), target: target)
                }
            }
            try confined.makeSymlink(["c", "l"], target: "../a/b/f")
            #expect(try String(contentsOfFile: root + "/c/l", encoding: .utf8) == "inside")
            #expect(throws: ProtocolError.self) { try confined.makeSymlink(["c", "l"], target: "../a") }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/c/l") == "../a/b/f")
            #expect(tree(base + "/outside") == ["secret.txt"])
        }
    }

    /// The server side over the network: raw `file.symlink` requests (which the client would not send) and a
    /// `put -r` of a local tree holding the corpus.
    @Test func rawRequestsAndPutRNeverPlantALinkThatLeadsOut() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/served"
            let local = base + "/local"
            try makeTree(base, root: root)
            try makeTree(base, root: local)
            let corpus = Self.corpus(seed: 99, count: 60)
            for (path, target) in corpus {
                try? FileManager.default.createSymbolicLink(atPath: local + "/" + path, withDestinationPath: target)
            }
            #expect(!Self.escapingLinks(in: local).isEmpty, "the local corpus does lead out")
            try await withTestServer(plaintext: true, configure: { $0.root = root }) { server in
                try await server.withClient { connection in
                    for (path, target) in corpus {
                        do {
                            try await connection.request(.fileSymlink(.init(path: path, target: target)))
                        } catch let error as PorterError {
                            #expect(error.kind == .refused, "\(error)")
                        }
                    }
                    let summary = try await connection.uploadTree(local, to: "copy")
                    #expect(summary.files == Self.directories.count)
                    #expect(summary.symlinks + summary.skipped.count == tree(local).count - 2 * Self.directories.count)
                    _ = try await connection.ping()
                }
            }
            #expect(Self.escapingLinks(in: root) == [])
        }
    }

    /// The client side: `get -r` from a server whose tree holds the report's chain (made by hand, as an
    /// administrator could), and from a hostile server that sends corpora of chains in random orders.
    @Test func getRNeverPlantsALinkThatLeadsOut() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/served"
            try makeTree(base, root: root + "/T2")
            for (path, target) in Self.reportedChain {
                try FileManager.default.createSymbolicLink(atPath: root + "/T2/" + path, withDestinationPath: target)
            }
            try FileManager.default.createDirectory(atPath: base + "/dl", withIntermediateDirectories: true)
            try await withTestServer(plaintext: true, configure: { $0.root = root }) { server in
                try await server.withClient { connection in
                    let summary = try await connection.downloadTree("T2", to: base + "/dl/T2")
                    #expect(summary.files == Self.directories.count, "the rest of the tree is copied")
                    #expect(summary.symlinks == 2, "a/up and notes.txt, which now leads nowhere")
                    #expect(summary.skipped.count == 3)
                    #expect(summary.skipped.allSatisfy { $0.contains("'..' after a name") })
                    #expect(summary.skipped.contains { $0.contains("'a/up2' -> 'up/..'") })
                }
            }
            #expect(Self.escapingLinks(in: base + "/dl/T2") == [])
            #expect((try? String(contentsOfFile: base + "/dl/T2/notes.txt", encoding: .utf8)) == nil)
        }
        for seed in 1...6 as ClosedRange<UInt64> {
            try await withTemporaryDirectory { base in
                let target = base + "/target"
                let time = ControlMessage.FileTime(seconds: 1_600_000_000, nanoseconds: 0)
                var entries = Self.directories.flatMap { directory -> [ControlMessage.FileEntry] in
                    [
                        .init(path: directory, type: .directory, size: 0, mode: 0o755, mtime: time),
                        .init(path: directory + "/f", type: .file, size: 4, mode: 0o644, mtime: time),
                    ]
                }
                entries += Self.corpus(seed: seed, count: 60).map { path, target in
                    .init(path: path, type: .symlink, size: 0, mode: 0o777, mtime: time, target: target)
                }
                let listing = entries
                try await withFakeServer(answer: treeAnswers(listing: listing)) { endpoint in
                    let configuration = ClientConfiguration(
                        token: testToken, transport: .plaintext, connectTimeout: 30 * testSlowdown)
                    try await PorterClient.withConnection(to: endpoint, configuration: configuration) { connection in
                        let summary = try await connection.downloadTree("x", to: target)
                        #expect(summary.files == Self.directories.count)
                        #expect(summary.symlinks > 0)
                    }
                }
                #expect(Self.escapingLinks(in: target) == [], "seed \(seed)")
            }
        }
    }
}
