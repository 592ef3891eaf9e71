import Foundation
import SlipwayCore
import Testing

/// `FreeMemory.reclaimMappedCode`, which `slipway serve` calls once started.
@Suite struct FreeMemoryTests {
    /// Resident pages mapped from files (`RssFile`), in KiB.
    static func residentFilePages() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "needs Linux's /proc"))
    func codePagesAreHandedBackAndTheProcessRunsOn() throws {
        let before = try Self.residentFilePages()
        guard FreeMemory.reclaimMappedCode() else {
            Issue.record("this kernel cannot reclaim pages on request (MADV_PAGEOUT, Linux 5.4)"); return
        }
        let after = try Self.residentFilePages()
        // This test process has some 35 MiB of code resident; a quarter of it goes here (what
        // other processes map too, the kernel keeps).
        #expect(after < before * 9 / 10, "resident file pages \(before) KiB → \(after) KiB")
        // Code runs on: pages come back as it is used.
        #expect(try JSONSerialization.jsonObject(with: Data(#"{"still":"running"}"#.utf8)) is [String: String])
    }
}
