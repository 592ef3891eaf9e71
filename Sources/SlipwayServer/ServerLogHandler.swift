public import Logging

/// The server's log handler: `StreamLogHandler`'s lines, but metadata is formatted only when a
/// line is written. `StreamLogHandler` formats its metadata whenever it is set, and the HTTP
/// server sets a request id on every request's logger, written or not (1.3 % of the server's
/// CPU at full intake, at the default level).
public struct ServerLogHandler: LogHandler {
    public typealias Writer = @Sendable (_ label: String, _ metadataProvider: Logger.MetadataProvider?) -> StreamLogHandler

    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let writer: Writer

    /// - Parameter writer: makes the `StreamLogHandler` that writes a line (standard output unless told).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
                writer: @escaping Writer = { StreamLogHandler.standardOutput(label: $0, metadataProvider: $1) }) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.writer = writer
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var stream = writer(label, metadataProvider)
        stream.logLevel = logLevel
        stream.metadata = metadata
        stream.log(event: event)
    }
}
