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
}

#if os(Linux)
// `malloc_trim` is declared in <malloc.h>, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
