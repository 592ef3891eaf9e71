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
/// refuses. Limits are rlimits set by `prlimit`.
///
/// When the server runs as root, the step runs as the sandbox user (65534, no supplementary
/// groups, no capabilities), a different unprivileged user on the host. Bubblewrap then runs
/// with the server's rights and only the step switches user, inside the finished sandbox
/// (`setpriv` as its first command): the mounts are made by the user who owns the data
/// directory, so a workspace under a private (0700) folder can be handed in, and the step,
/// once it is 65534, sees only what was mounted. (Switching before bubblewrap made bubblewrap
/// resolve every source path as 65534, who cannot pass a 0700 parent.) Bubblewrap keeps only
/// the capabilities `setpriv` needs to switch (and drops them all with the switch), and needs
/// no user namespace in this mode. A server that is not root runs bubblewrap in a user
/// namespace of its own as before; its steps map onto the server's user, who owns the data.
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
        let rlimits = limitArguments
        if !rlimits.isEmpty { line += [Self.prlimit] + rlimits + ["--"] }
        guard settings.mode == .bubblewrap else {
            line += [executable] + arguments
            return Command(executable: line[0], arguments: Array(line.dropFirst()))
        }
        line.append(Self.bubblewrap)
        if switchesUser {
            // Root: no user namespace; everything but what setpriv needs to switch is dropped.
            line += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        } else {
            line += ["--unshare-user", "--uid", String(settings.user), "--gid", String(settings.group)]
        }
        line += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
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
        // Made by root, these would be root's alone; shared and sticky as on the host.
        line += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp"]
        for path in settings.readOnlyPaths where FileManager.default.fileExists(atPath: path) {
            line += Self.parents(of: path) + ["--ro-bind", path, path]
            roots.append(path)
        }
        // Secrets that live under a mounted tree (a kubeconfig in /etc, say) are covered up.
        for path in hiddenPaths where roots.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            line += isDirectory.boolValue ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]
        }
        let workspace = Self.absolute(workspace)
        line += Self.parents(of: workspace) + ["--bind", workspace, workspace]
        if hook { line += Self.parents(of: hooksDirectory) + ["--ro-bind", hooksDirectory, hooksDirectory] }
        line += ["--chdir", Self.absolute(directory), "--"]
        if switchesUser {
            line += [Self.setpriv, "--reuid=\(settings.user)", "--regid=\(settings.group)", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        }
        line += [executable] + arguments
        return Command(executable: line[0], arguments: Array(line.dropFirst()))
    }

    /// The folders leading to a mount point, made searchable by everyone inside the sandbox.
    /// Bubblewrap copies the host's modes onto the folders it creates, so a 0700 parent on the
    /// host would make the workspace unreachable by its absolute path once the step is 65534;
    /// inside the sandbox these folders hold nothing but the path to what is mounted. Folders
    /// that already exist there (/tmp, a mounted tree) keep their mode.
    static func parents(of path: String) -> [String] {
        var arguments: [String] = []
        var folder = ""
        for component in path.split(separator: "/").dropLast() {
            folder += "/" + component
            arguments += ["--perms", "0755", "--dir", folder]
        }
        return arguments
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

    /// Runs a real step in a real workspace under `workspaces` (the configured data
    /// directory's), as every job's steps will run; nil when it works, else what failed and
    /// what to change. A configuration whose steps cannot run refuses to start.
    public func probe(workspaces: String) async -> String? {
        guard stepGuard != nil else { return StepGuard.missing(configured: configuredGuard) }
        if settings.mode == .bubblewrap {
            for tool in [Self.setpriv, Self.prlimit] where !FileManager.default.isExecutableFile(atPath: tool) {
                return "runner.sandbox is bubblewrap, but \(tool) is missing: install util-linux"
            }
            guard FileManager.default.isExecutableFile(atPath: Self.bubblewrap) else {
                return "runner.sandbox is bubblewrap, but \(Self.bubblewrap) is missing: install it (apt-get install bubblewrap), or set runner.sandbox: none to run steps unconfined"
            }
            // First whether the kernel lets bubblewrap start at all, for the message that says so.
            let bare = Sandbox(settings: settings, limits: StepLimits(), hiddenPaths: [], hooksDirectory: hooksDirectory, stepGuard: stepGuard)
            if let why = await bare.run("exit 0", workspace: "/tmp") {
                return "runner.sandbox is bubblewrap, but it cannot start a step (\(why)): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0), or set runner.sandbox: none to run steps unconfined"
            }
        }
        let workspace = (Self.absolute(workspaces) as NSString).appendingPathComponent("probe-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        defer { try? FileManager.default.removeItem(atPath: workspace) }
        do {
            try FileManager.default.createDirectory(atPath: workspace + "/src", withIntermediateDirectories: true)
            try Data("slipway".utf8).write(to: URL(fileURLWithPath: workspace + "/src/input"))
        } catch {
            return "cannot create a workspace in \(workspaces): \(error.localizedDescription); data_dir must be a directory the server's user can write"
        }
        handOver(workspace)
        // What steps do: read the checkout, write beside it, use the absolute path.
        let absolute = Self.quoted(workspace)
        let script = "cat src/input > output && mkdir built && cp \(absolute)/output built/ && cat \(absolute)/built/output"
        if let why = await run(script, workspace: workspace, expecting: "slipway") {
            var change = "data_dir must be on a local filesystem where the server's user can create files"
            if switchesUser { change += " and give them to runner.sandbox.user (\(settings.user))" }
            return "a step cannot run in its workspace under \(workspaces) (\(why)): \(change); or set runner.sandbox: none to run steps unconfined"
        }
        // Hook steps run the server's scripts as the step user: the folder must let them.
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: hooksDirectory, isDirectory: &isDirectory), isDirectory.boolValue,
           let why = await run("cd \(Self.quoted(hooksDirectory)) && ls > /dev/null && echo slipway", workspace: workspace, hook: true, expecting: "slipway") {
            return "hook steps cannot read runner.hooks_dir \(hooksDirectory) (\(why)): make the folder readable by runner.sandbox.user (chmod 755, its scripts 755 or 644)"
        }
        return nil
    }

    /// `text` as one word for /bin/sh.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Runs `script` as a step of `workspace`; nil when it succeeds and prints `expected`,
    /// else what went wrong.
    private func run(_ script: String, workspace: String, hook: Bool = false, expecting expected: String = "") async -> String? {
        guard let stepGuard else { return StepGuard.missing(configured: configuredGuard) }
        let command = command("/bin/sh", ["-e", "-c", script], workspace: workspace, directory: workspace, network: true, hook: hook)
        do {
            let result = try await Subprocess.run(.path(FilePath(command.executable)), arguments: Arguments(command.arguments),
                                                  environment: .custom(["PATH": "/usr/bin:/bin"]), workingDirectory: FilePath(workspace),
                                                  input: stepGuard.input, output: .string(limit: 4096), error: .string(limit: 4096))
            let output = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            let error = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            guard result.terminationStatus.isSuccess else { return error.isEmpty ? "\(result.terminationStatus)" : error }
            guard output == expected else { return "the step printed '\(output)', not '\(expected)'" }
            return nil
        } catch {
            return "cannot start \(command.executable): \(error)"
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
