/// A secret read from the environment or a file. Its description never shows the value,
/// so a secret that reaches a log line or an error message stays hidden.
public struct SecretValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "***" }
    public var debugDescription: String { "SecretValue(***)" }
}
