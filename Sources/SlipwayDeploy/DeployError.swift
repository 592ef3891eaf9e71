/// Why a deploy stopped, in words that name what to fix.
public struct DeployError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    /// What was asked for is not there (a commit the repository does not have), rather
    /// than something that failed.
    public var isNotFound: Bool
    public init(_ message: String, isNotFound: Bool = false) {
        self.message = message
        self.isNotFound = isNotFound
    }
    public var description: String { message }
}
