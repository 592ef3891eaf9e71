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
}

#if os(Linux)
// `malloc_trim` is declared in <malloc.h>, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
