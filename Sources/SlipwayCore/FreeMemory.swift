import Foundation

/// Hands memory the allocator holds but no longer uses back to the system.
///
/// A deploy or a drift check of a large app builds thousands of short-lived JSON trees on
/// many threads; glibc keeps what they freed in its per-thread arenas, so without this a
/// server that once checked 1000 objects keeps that peak for good.
public enum FreeMemory {
    public static func release() {
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Makes every allocation of `bytes` or more its own mapping, unmapped when freed.
    ///
    /// glibc's default threshold moves up to the size of the largest block freed (up to
    /// 32 MiB), so after the first 4 MiB webhook body every later one came from the heap,
    /// and 16 of them at once stayed there: a 1-minute soak of 4 MiB deliveries kept
    /// 135 MiB anonymous memory after the load with the moving threshold, 18 MiB with this.
    public static func mapLargeBlocksSeparately(atLeast bytes: Int = 256 * 1024) {
        #if os(Linux)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, Int32(bytes))
        #endif
    }

    /// Lets each heap keep up to `bytes` free at its top before glibc hands it back.
    ///
    /// Fixing the mmap threshold (above) also fixes glibc's trim threshold, at 128 KiB: under
    /// a stream of webhooks the heaps then shrank and grew again many times a second, each
    /// shrink a TLB flush on every core and each regrowth page faults. With 1 MiB the intake
    /// benchmark's distinct pushes went from 11,419/10,720 to 12,700/13,192 per second in
    /// alternating runs. What stays is bounded by the heaps (one per busy thread) and given
    /// back by `release()` once jobs or reconciles end.
    public static func keepFreeHeapTop(upTo bytes: Int = 1 << 20) {
        #if os(Linux)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, Int32(bytes))
        #endif
    }

    /// Asks the kernel to reclaim now the pages of code and read-only data this process has
    /// mapped from its binary and libraries, for the server once it listens.
    ///
    /// Starting (arguments, configuration, migrations, the TLS identity, the routes) runs code
    /// that never runs again, and the kernel maps code in windows around each page touched:
    /// of the idle server's 56 MiB resident, 50 MiB were such clean file pages, charged to its
    /// cgroup like any memory until reclaim gets to them. What the server runs afterwards
    /// comes back on first use (minor faults while the page is cached, a read from disk
    /// otherwise). Pages another process maps too are left alone by the kernel, and writable
    /// mappings (data, the database's shared memory) are not touched. Linux 5.4 or newer.
    /// - Returns: false where the system cannot (another OS, an older kernel).
    @discardableResult
    public static func reclaimMappedCode() -> Bool {
        #if os(Linux)
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return false }
        var refused = false
        for line in maps.split(separator: "\n") {
            // start-end perms offset device inode path
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5].hasPrefix("/"), !fields[1].contains("w") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start,
                  let address = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            if madvise(address, Int(end - start), 21 /* MADV_PAGEOUT */) != 0, errno == EINVAL { refused = true }
        }
        return !refused
        #else
        return false
        #endif
    }
}

#if os(Linux)
// `malloc_trim` is declared in <malloc.h>, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
