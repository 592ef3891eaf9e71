public import Foundation
public import SlipwayCore

/// OpenSSH's sshd on a loopback port, with its own host key and one authorised client key,
/// serving git repositories over ssh:// as any plain git server does.
public final class SSHGitServer: Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    /// The client's private key (no passphrase) that the server accepts.
    public let clientKeyPath: String
    /// sshd daemonises itself: a long-running Foundation child would stall Foundation's
    /// reaping of every other child process in the test run.
    private let pid: pid_t

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    public static func start() throws -> SSHGitServer {
        let directory = try TemporaryDirectory("slipway-sshd")
        let dir = directory.path
        for key in ["host", "client"] {
            try GitRepository.runTool("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", "\(dir)/\(key)_key"])
        }
        try FileManager.default.copyItem(atPath: "\(dir)/client_key.pub", toPath: "\(dir)/authorized_keys")
        // The privilege-separation directory sshd insists on.
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        for attempt in 0..<5 {
            let port = Int.random(in: 20000...60000)
            let config = try directory.write("sshd_config", """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(dir)/host_key
                AuthorizedKeysFile \(dir)/authorized_keys
                PidFile \(dir)/sshd.pid
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                PubkeyAuthentication yes
                PermitRootLogin prohibit-password
                StrictModes no
                UsePAM no
                """)
            guard (try? GitRepository.runTool("/usr/sbin/sshd", ["-f", config])) != nil else { continue }
            // Ready when the port accepts connections.
            for _ in 0..<50 {
                if Self.canConnect(port: port),
                   let text = try? String(contentsOfFile: "\(dir)/sshd.pid", encoding: .utf8),
                   let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    let hostKey = try String(contentsOfFile: "\(dir)/host_key.pub", encoding: .utf8)
                    _ = try directory.write("known_hosts", "[127.0.0.1]:\(port) \(hostKey)")
                    return SSHGitServer(port: port, directory: directory, clientKeyPath: "\(dir)/client_key", pid: pid)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            _ = attempt
        }
        throw SSHServerError.didNotStart
    }

    private init(port: Int, directory: TemporaryDirectory, clientKeyPath: String, pid: pid_t) {
        self.port = port
        self.directory = directory
        self.clientKeyPath = clientKeyPath
        self.pid = pid
    }

    /// A known_hosts file that lists this server's host key.
    public var knownHostsPath: String { directory.path + "/known_hosts" }

    /// Credentials for `key`, trusting this server's host key.
    public func credentials(key: String) -> RepositoryAuth {
        .sshKey(username: NSUserName(), privateKeyPath: key, passphrase: nil, knownHosts: knownHostsPath)
    }

    /// `ssh://USER@127.0.0.1:PORT/absolute/path`.
    public func url(path: String) -> String {
        "ssh://\(NSUserName())@127.0.0.1:\(port)\(path)"
    }

    public func stop() {
        kill(pid, SIGTERM)
        directory.remove()
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

public enum SSHServerError: Error {
    case didNotStart
}

extension GitRepository {
    /// Runs a program and throws with its output when it fails.
    public static func runTool(_ path: String, _ arguments: [String]) throws {
        let (status, output) = try runChildProcess(URL(fileURLWithPath: path), arguments)
        guard status == 0 else { throw GitCommandError(arguments: [path] + arguments, output: output) }
    }
}
