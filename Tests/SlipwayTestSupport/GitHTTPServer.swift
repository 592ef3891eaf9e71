public import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HTTPTypes
import Logging
import ServiceLifecycle
import SlipwayServer

/// Git's smart HTTP protocol over TLS with basic auth, served by `git http-backend` (git's own
/// CGI program), for testing https remotes without a forge.
public final class GitHTTPServer: Sendable {
    /// The CA file that makes clients trust this server (its own self-signed certificate).
    public let certificatePath: String
    private let served: ServedApplication
    private let gate: AnswerGate

    /// `https://localhost:PORT/NAME` for a repository `NAME` under `root`.
    public func url(_ name: String) -> String { "https://localhost:\(port)/\(name)" }

    /// Serves every repository under `root`, to `username`/`password` only.
    /// - Parameter latency: added before every answer, as a forge's round trip on a real network.
    public static func start(root: String, username: String, password: String, latency: Duration = .zero) async throws -> GitHTTPServer {
        let gate = AnswerGate()
        // One certificate for every git server of the process: libgit2's trusted CA file is
        // one setting for the whole process, and tests run side by side.
        var logger = Logger(label: "git-http")
        logger.logLevel = .error
        let identity = try await SharedGitIdentity.shared.identity(logger: logger)
        let expected = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            guard request.headers[.authorization] == expected else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"git\""])
            }
            let body = try await request.body.collect(upTo: 64 << 20)
            let data = Data(buffer: body)
            await gate.pass()
            if latency > .zero { try? await Task.sleep(for: latency) }
            return try await onOwnThread { try backend(request: request, body: data, root: root) }
        }
        router.on("**", method: .get, use: handler)
        router.on("**", method: .post, use: handler)
        let tls = try identity.serverConfiguration()
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        return GitHTTPServer(served: served, certificatePath: identity.certificatePath, gate: gate)
    }

    private init(served: ServedApplication, certificatePath: String, gate: AnswerGate) {
        self.gate = gate
        self.served = served
        self.certificatePath = certificatePath
    }

    public var port: Int { served.port }

    /// From now on, requests wait unanswered (a forge that hangs) until `answer()`.
    public func hold() async { await gate.close() }

    /// Answers the requests held and every later one.
    public func answer() async { await gate.open() }

    /// How many requests wait unanswered.
    public func heldRequests() async -> Int { await gate.waiting }

    /// How many requests came so far.
    public func requestCount() async -> Int { await gate.passed }

    public func stop() async {
        await gate.open()
        await served.stop()
    }

    /// Runs `git http-backend` as CGI for one request.
    private static func backend(request: Request, body: Data, root: String) throws -> Response {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "http-backend"]
        var environment = [
            "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "REMOTE_USER": "slipway", "REMOTE_ADDR": "127.0.0.1",
            "PATH_INFO": request.uri.path, "QUERY_STRING": request.uri.query ?? "",
            "REQUEST_METHOD": request.method.rawValue, "CONTENT_LENGTH": String(body.count),
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        if let type = request.headers[.contentType] { environment["CONTENT_TYPE"] = type }
        if let encoding = request.headers[.contentEncoding] { environment["HTTP_CONTENT_ENCODING"] = encoding }
        if let protocolHeader = request.headers[HTTPField.Name("Git-Protocol")!] { environment["GIT_PROTOCOL"] = protocolHeader }
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let writer = input.fileHandleForWriting
        DispatchQueue.global().async {
            writer.write(body)
            try? writer.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // CGI: headers, a blank line, the body.
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) ?? data.range(of: Data("\n\n".utf8)) else {
            return Response(status: .internalServerError)
        }
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        for line in String(decoding: data[..<split.lowerBound], as: UTF8.self).split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0].lowercased() == "status", let code = Int(parts[1].prefix(3)) {
                status = HTTPResponse.Status(code: code)
            } else if let name = HTTPField.Name(parts[0]) {
                headers[name] = parts[1]
            }
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: data[split.upperBound...])))
    }
}

/// Holds requests while closed.
private actor AnswerGate {
    private var closed = false
    private var held: [CheckedContinuation<Void, Never>] = []

    var waiting: Int { held.count }
    private(set) var passed = 0

    func close() { closed = true }

    func open() {
        closed = false
        for waiter in held { waiter.resume() }
        held = []
    }

    func pass() async {
        passed += 1
        guard closed else { return }
        await withCheckedContinuation { held.append($0) }
    }
}

/// The TLS identity every `GitHTTPServer` of the process serves, made once.
private actor SharedGitIdentity {
    static let shared = SharedGitIdentity()
    private var made: TLSIdentity?
    private var directory: TemporaryDirectory?

    func identity(logger: Logger) throws -> TLSIdentity {
        if let made { return made }
        let directory = try TemporaryDirectory("slipway-git-tls-shared")
        let identity = try TLSIdentity.selfSigned(in: directory.path, hostnames: ["localhost"], logger: logger)
        self.directory = directory
        made = identity
        return identity
    }
}
