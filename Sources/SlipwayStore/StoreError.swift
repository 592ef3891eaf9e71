/// Why the store could not answer.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The database could not be opened, written or read (locked too long, disk full, closed...).
    case unavailable(String)
    case jobNotFound(Int64)
    /// A write for a job that no longer runs (it ended, or another replica took it over).
    case notRunning(Int64)

    public var description: String {
        switch self {
        case .unavailable(let why): "the job store is unavailable: \(why)"
        case .jobNotFound(let id): "no job with id \(id)"
        case .notRunning(let id): "job \(id) is no longer running here: the write was refused"
        }
    }
}
