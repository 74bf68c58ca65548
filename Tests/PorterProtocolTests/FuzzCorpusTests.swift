import Foundation
import PorterFuzz
import Testing

/// Replays the fuzz corpus through the fuzz targets' own checks: the seeds in `fuzz/seeds/TARGET` and every
/// input that once failed, kept in `fuzz/regressions/TARGET` (fuzz/run.sh explains how one gets there).
@Suite struct FuzzCorpusTests {
    static let fuzzDirectory = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "fuzz")

    @Test(arguments: FuzzTarget.allCases)
    func everySeedAndRegressionPassesItsTarget(_ target: FuzzTarget) throws {
        var count = 0
        for kind in ["seeds", "regressions"] {
            let directory = Self.fuzzDirectory.appending(path: "\(kind)/\(target.rawValue)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() {
                let bytes = try [UInt8](Data(contentsOf: directory.appending(path: name)))
                target.check(bytes)
                count += 1
            }
        }
        #expect(count > 0, "no corpus for \(target.rawValue)")
    }
}
