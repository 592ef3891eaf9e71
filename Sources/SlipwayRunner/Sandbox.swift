import Foundation
public import SlipwayConfig
public import SlipwayCore
import Subprocess
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Turns a step into the command line that runs it confined, so that code from an app's
/// repository reaches only that job's workspace.
///
/// Bubblewrap (the sandbox Flatpak uses) rather than the namespaces by hand: it is one small
/// audited setuid-free binary that Debian ships, does the mount, PID, IPC and UTS namespaces,
/// `no_new_privs` and `--die-with-parent` in one place, and fails loudly when the kernel
/// refuses. When the server runs as root, `setpriv` starts the step as the sandbox user
/// (65534, no supplementary groups) before bubblewrap runs, so even inside its own namespaces
/// it is a different, unprivileged user on the host. Limits are rlimits set by `prlimit`.
/// (`setpriv` and `prlimit` are util-linux, on every Debian; switching users in the forked
/// child of a multi-threaded server is what they are for, and what a library cannot do safely.)
public struct Sandbox: Sendable {
    public let settings: SandboxSettings
    public let limits: StepLimits
    /// What a step must never see: the data dir, the configuration, kubeconfigs, the hooks dir
    /// (mounted read-only for hook steps only), the workspaces of other jobs.
    public let hiddenPaths: [String]
    public let hooksDirectory: String
    /// The parent of every confined command; nil when it could not be found (nothing starts).
    public let stepGuard: StepGuard?
    /// Where `stepGuard` was looked for, for the error when it is missing.
    let configuredGuard: String?

    public init(settings: SandboxSettings, limits: StepLimits, hiddenPaths: [String], hooksDirectory: String,
                stepGuard: StepGuard?, configuredGuard: String? = nil) {
        self.stepGuard = stepGuard
        self.configuredGuard = configuredGuard
        self.settings = settings
        self.limits = limits
        self.hiddenPaths = hiddenPaths.map { Self.absolute($0) }
        self.hooksDirectory = Self.absolute(hooksDirectory)
    }

    /// The sandbox of a server configuration: its data (database, secrets, TLS key, mirrors,
    /// workspaces), its configuration file, the clusters' kubeconfigs and the hooks are hidden.
    public init(config: ServerConfig) {
        var hidden = [config.dataDir, config.hooksDir, config.workspacesDir]
        if let path = config.configPath { hidden.append(path) }
        for cluster in config.clusters {
            if case .kubeconfig(let path, _) = cluster.source { hidden.append(path) }
        }
        self.init(settings: config.sandbox, limits: config.stepLimits, hiddenPaths: hidden, hooksDirectory: config.hooksDir,
                  stepGuard: StepGuard(configured: config.stepGuard), configuredGuard: config.stepGuard)
    }

    /// How a step is started: the program and its arguments.
    public struct Command: Sendable {
        public var executable: String
        public var arguments: [String]
    }

    static let bubblewrap = "/usr/bin/bwrap"
    static let prlimit = "/usr/bin/prlimit"
    static let setpriv = "/usr/bin/setpriv"

    /// Whether steps start as the sandbox user (only root may switch users).
    var switchesUser: Bool { settings.mode == .bubblewrap && getuid() == 0 }

    /// Why nothing can start, when the guard is missing.
    var guardMissing: String? {
        stepGuard == nil ? StepGuard.missing(configured: configuredGuard) : nil
    }

    /// The command that runs `executable arguments` in `directory` for a job's `workspace`,
    /// under the step guard. Start it with `stepGuard.input` as standard input.
    public func command(_ executable: String, _ arguments: [String], workspace: String, directory: String,
                        network: Bool, hook: Bool) -> Command {
        var line: [String] = stepGuard.map { [$0.executable] } ?? []
        if switchesUser {
            line += [Self.setpriv, "--reuid=\(settings.user)", "--regid=\(settings.group)", "--clear-groups", "--"]
        }
        let rlimits = limitArguments
        if !rlimits.isEmpty { line += [Self.prlimit] + rlimits + ["--"] }
        guard settings.mode == .bubblewrap else {
            line += [executable] + arguments
            return Command(executable: line[0], arguments: Array(line.dropFirst()))
        }
        line += [Self.bubblewrap, "--unshare-user", "--uid", String(settings.user), "--gid", String(settings.group),
                 "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
                 "--hostname", "slipway-step"]
        if !network { line.append("--unshare-net") }
        var roots = ["/usr", "/etc"]
        line += ["--ro-bind", "/usr", "/usr"]
        for folder in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: folder) {
                line += ["--symlink", target, folder]
            } else if FileManager.default.fileExists(atPath: folder) {
                line += ["--ro-bind", folder, folder]
                roots.append(folder)
            }
        }
        line += ["--ro-bind", "/etc", "/etc"]
        for path in settings.readOnlyPaths where FileManager.default.fileExists(atPath: path) {
            line += ["--ro-bind", path, path]
            roots.append(path)
        }
        line += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        // Secrets that live under a mounted tree (a kubeconfig in /etc, say) are covered up.
        for path in hiddenPaths where roots.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            line += isDirectory.boolValue ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]
        }
        let workspace = Self.absolute(workspace)
        line += ["--bind", workspace, workspace]
        if hook { line += ["--ro-bind", hooksDirectory, hooksDirectory] }
        line += ["--chdir", Self.absolute(directory), "--", executable] + arguments
        return Command(executable: line[0], arguments: Array(line.dropFirst()))
    }

    private var limitArguments: [String] {
        var arguments: [String] = []
        if let memory = limits.memory { arguments.append("--as=\(memory)") }
        if let processes = limits.processes { arguments.append("--nproc=\(processes)") }
        if let files = limits.openFiles { arguments.append("--nofile=\(files)") }
        if let size = limits.fileSize { arguments.append("--fsize=\(size)") }
        return arguments
    }

    /// Gives the workspace to the sandbox user, so steps can write in it (the server, as
    /// root, can still read and remove all of it).
    public func handOver(_ workspace: String) {
        guard switchesUser else { return }
        let user = uid_t(settings.user), group = gid_t(settings.group)
        _ = lchown(workspace, user, group)
        guard let entries = FileManager.default.enumerator(atPath: workspace) else { return }
        for case let entry as String in entries {
            _ = lchown((workspace as NSString).appendingPathComponent(entry), user, group)
        }
    }

    /// Starts a trivial step in the sandbox; nil when it works, else why not and what to do.
    public func probe() async -> String? {
        guard let stepGuard else { return StepGuard.missing(configured: configuredGuard) }
        guard settings.mode == .bubblewrap else { return nil }
        for tool in [Self.setpriv, Self.prlimit] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "runner.sandbox is bubblewrap, but \(tool) is missing: install util-linux"
        }
        guard FileManager.default.isExecutableFile(atPath: Self.bubblewrap) else {
            return "runner.sandbox is bubblewrap, but \(Self.bubblewrap) is missing: install it (apt-get install bubblewrap), or set runner.sandbox: none to run steps unconfined"
        }
        let probe = Sandbox(settings: settings, limits: StepLimits(), hiddenPaths: [], hooksDirectory: hooksDirectory, stepGuard: stepGuard)
        let command = probe.command("/bin/sh", ["-c", "exit 0"], workspace: "/tmp", directory: "/tmp", network: true, hook: false)
        do {
            let result = try await Subprocess.run(.path(FilePath(command.executable)), arguments: Arguments(command.arguments),
                                                  environment: .custom([:]), input: stepGuard.input,
                                                  output: .discarded, error: .string(limit: 4096))
            guard result.terminationStatus.isSuccess else {
                let why = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                return "runner.sandbox is bubblewrap, but it cannot start a step (\(why)): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0), or set runner.sandbox: none to run steps unconfined"
            }
            return nil
        } catch {
            return "runner.sandbox is bubblewrap, but it cannot start: \(error); set runner.sandbox: none to run steps unconfined"
        }
    }

    /// The limit a step's output shows it ran into, for a failure reason that says why.
    func limitHit(in line: String, signal: Int32?) -> String? {
        if signal == SIGXFSZ || line.contains("File size limit exceeded") || line.contains("File too large") {
            return limits.fileSize.map { "runner.limits.file_size (\($0) bytes)" }
        }
        if line.contains("Resource temporarily unavailable") || line.contains("Cannot fork") || line.contains("fork: retry") {
            return limits.processes.map { "runner.limits.processes (\($0))" }
        }
        if line.contains("Too many open files") {
            return limits.openFiles.map { "runner.limits.open_files (\($0))" }
        }
        if line.contains("Cannot allocate memory") || line.contains("out of memory") || line.contains("bad_alloc") || line.contains("MemoryError") {
            return limits.memory.map { "runner.limits.memory (\($0) bytes)" }
        }
        return nil
    }

    static func absolute(_ path: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }
}
