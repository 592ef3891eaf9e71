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
}

#if os(Linux)
// `malloc_trim` is declared in <malloc.h>, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
