/// How steps are confined (`runner.sandbox`).
public struct SandboxSettings: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Each step in bubblewrap: its own mount, PID, IPC and UTS namespaces, an unprivileged uid.
        case bubblewrap
        /// Steps run as the server's user and see what it sees (only by explicit choice).
        case none
    }

    public var mode: Mode
    /// The uid and gid steps run as when the server runs as root.
    public var user: UInt32
    public var group: UInt32
    /// Host folders steps may read besides /usr, /etc and the library folders (a toolchain in /opt).
    public var readOnlyPaths: [String]

    public init(mode: Mode = .bubblewrap, user: UInt32 = 65534, group: UInt32 = 65534, readOnlyPaths: [String] = []) {
        self.mode = mode
        self.user = user
        self.group = group
        self.readOnlyPaths = readOnlyPaths
    }
}

/// Resource limits of one step (`runner.limits`), applied as rlimits; nil is no limit.
public struct StepLimits: Sendable, Hashable {
    /// Address space in bytes (RLIMIT_AS).
    public var memory: Int?
    /// Processes of the step's user (RLIMIT_NPROC).
    public var processes: Int?
    /// Open files (RLIMIT_NOFILE).
    public var openFiles: Int?
    /// Largest file a step may write, in bytes (RLIMIT_FSIZE).
    public var fileSize: Int?

    public init(memory: Int? = nil, processes: Int? = nil, openFiles: Int? = nil, fileSize: Int? = nil) {
        self.memory = memory
        self.processes = processes
        self.openFiles = openFiles
        self.fileSize = fileSize
    }

    /// Generous defaults that still stop a runaway step from taking the machine down.
    public static let `default` = StepLimits(memory: 8 << 30, processes: 1024, openFiles: 4096, fileSize: 4 << 30)
}
