/// What a bearer token may do on the API.
public enum APIRole: String, Sendable, Codable, Hashable, Comparable, CaseIterable {
    /// Look at jobs, logs and apps.
    case read
    /// Everything `read` may, plus cancel, sync and other changes.
    case admin

    public static func < (lhs: APIRole, rhs: APIRole) -> Bool {
        lhs == .read && rhs == .admin
    }
}

/// A named API token and its role.
public struct APIToken: Sendable, Hashable {
    public var name: String
    public var role: APIRole
    public var secret: SecretValue

    public init(name: String, role: APIRole, secret: SecretValue) {
        self.name = name
        self.role = role
        self.secret = secret
    }
}
