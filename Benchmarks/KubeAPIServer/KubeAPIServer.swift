import Foundation
import KubeTestServer

/// The Kubernetes API test server in a process of its own, so a benchmark measures Slipway's
/// memory and CPU apart from the server's:
///
///     slipway-kube-api-server KUBECONFIG_PATH [LATENCY_MS]
///
/// It plays the workload controllers, adds LATENCY_MS (default 3) to every answer as a real
/// API server's round trip, writes a kubeconfig for itself, prints `ready`, and runs until
/// its standard input closes.
@main
struct KubeAPIServer {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data("usage: slipway-kube-api-server KUBECONFIG_PATH [LATENCY_MS]\n".utf8))
            exit(2)
        }
        let latency = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
        let server = try await KubeTestServer.start(controllers: true, latency: .milliseconds(latency))
        try server.writeKubeconfig(to: arguments[1])
        FileHandle.standardOutput.write(Data("ready \(server.url)\n".utf8))
        // Until the benchmark closes our standard input.
        _ = await Task.detached { FileHandle.standardInput.readDataToEndOfFile() }.value
        await server.stop()
    }
}
