/// Why a deploy stopped, in words that name what to fix.
public struct DeployError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
