#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which changed files concern an app of a monorepo: `apps[].paths` globs relative to the
/// repository root. `**` is any number of directories, `*` and `?` stay within one, `[...]`
/// is a set; a pattern starting with `!` excludes. A change concerns the app when one of its
/// paths matches an include (or there are only excludes) and no exclude.
public struct PathFilter: Sendable, Hashable {
    public let patterns: [String]
    private let includes: [[String]]
    private let excludes: [[String]]

    public init(_ patterns: [String]) {
        self.patterns = patterns
        includes = patterns.filter { !$0.hasPrefix("!") }.map(Self.segments)
        excludes = patterns.filter { $0.hasPrefix("!") }.map { Self.segments(String($0.dropFirst())) }
    }

    /// No patterns: every change concerns the app.
    public var isEmpty: Bool { patterns.isEmpty }

    private static func segments(_ pattern: String) -> [String] {
        pattern.split(separator: "/").map(String.init)
    }

    public func matches(path: String) -> Bool {
        let parts = Self.segments(path)
        guard includes.isEmpty || includes.contains(where: { Self.match($0[...], parts[...]) }) else { return false }
        return !excludes.contains { Self.match($0[...], parts[...]) }
    }

    /// Whether any of `paths` concerns the app.
    public func matchesAny(_ paths: [String]) -> Bool {
        isEmpty || paths.contains(where: matches(path:))
    }

    private static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            return match(pattern.dropFirst(), path) || (!path.isEmpty && match(pattern, path.dropFirst()))
        }
        guard let segment = path.first else { return false }
        return fnmatch(first, segment, 0) == 0 && match(pattern.dropFirst(), path.dropFirst())
    }
}
