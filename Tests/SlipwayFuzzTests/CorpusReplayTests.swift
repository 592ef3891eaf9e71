import Foundation
import SlipwayFuzz
import Testing

/// Every input of the committed fuzz corpus goes through its target in every test run: a
/// crash that fuzzing once found (its input is added to the corpus) stays fixed.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fuzz/Corpus").standardized

    @Test(arguments: FuzzTarget.allCases) func theCorpusRunsThrough(target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.path < $1.path }
        #expect(!files.isEmpty, "no seeds for \(target.rawValue) in \(folder.path)")
        for file in files {
            target.run(try Data(contentsOf: file))
        }
    }
}
