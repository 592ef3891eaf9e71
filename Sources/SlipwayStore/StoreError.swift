/// Why the store could not answer.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The database could not be opened, written or read (locked too long, disk full, closed...).
    case unavailable(String)
    case jobNotFound(Int64)

    public var description: String {
        switch self {
        case .unavailable(let why): "the job store is unavailable: \(why)"
        case .jobNotFound(let id): "no job with id \(id)"
        }
    }
}
