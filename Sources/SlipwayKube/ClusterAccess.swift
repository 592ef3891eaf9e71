public import Foundation
public import SlipwayCore
import Yams

/// Where a cluster is and how to authenticate to it.
public struct ClusterAccess: Sendable {
    public enum Credential: Sendable {
        case none
        case token(SecretValue)
        /// Read before every request: service-account tokens rotate.
        case tokenFile(String)
        case clientCertificate(certificatePEM: String, keyPEM: SecretValue)
    }

    /// `https://host:port` of the API server.
    public var server: String
    /// PEM certificates to trust for the API server; nil trusts the system's.
    public var certificateAuthorityPEM: String?
    public var insecureSkipTLSVerify: Bool
    public var credential: Credential
    /// The context's namespace, when the kubeconfig names one.
    public var namespace: String?

    public init(server: String, certificateAuthorityPEM: String? = nil, insecureSkipTLSVerify: Bool = false,
                credential: Credential, namespace: String? = nil) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.credential = credential
        self.namespace = namespace
    }

    /// Reads a kubeconfig file (`context` or its current-context). Relative file paths in it
    /// are relative to the file, as kubectl reads them.
    public static func kubeconfig(path: String, context: String? = nil) throws(KubeError) -> ClusterAccess {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configuration("cannot read kubeconfig \(path): \(error.localizedDescription)")
        }
        let base = (path as NSString).deletingLastPathComponent
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any] else {
            throw .configuration("\(path) is not a kubeconfig (YAML mapping expected)")
        }
        func named(_ list: String, _ name: String, _ field: String) throws(KubeError) -> [String: Any] {
            let entries = root[list] as? [[String: Any]] ?? []
            guard let entry = entries.first(where: { $0["name"] as? String == name }), let value = entry[field] as? [String: Any] else {
                throw .configuration("\(path): no \(field) named '\(name)' in \(list)")
            }
            return value
        }
        func file(_ value: String) -> String { value.hasPrefix("/") ? value : (base as NSString).appendingPathComponent(value) }
        func read(_ value: String, _ what: String) throws(KubeError) -> String {
            do { return try String(contentsOfFile: file(value), encoding: .utf8) } catch {
                throw .configuration("\(path): cannot read \(what) \(file(value)): \(error.localizedDescription)")
            }
        }
        func decoded(_ value: String, _ what: String) throws(KubeError) -> String {
            guard let data = Data(base64Encoded: value.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw .configuration("\(path): \(what) is not valid base64")
            }
            return String(decoding: data, as: UTF8.self)
        }

        guard let contextName = context ?? root["current-context"] as? String else {
            throw .configuration("\(path) has no current-context; name a context in the Slipway config")
        }
        let contextEntry = try named("contexts", contextName, "context")
        guard let clusterName = contextEntry["cluster"] as? String else { throw .configuration("\(path): context '\(contextName)' names no cluster") }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"] as? String, server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw .configuration("\(path): cluster '\(clusterName)' has no https server address")
        }
        var ca: String?
        if let data = cluster["certificate-authority-data"] as? String { ca = try decoded(data, "certificate-authority-data") }
        else if let caFile = cluster["certificate-authority"] as? String { ca = try read(caFile, "certificate-authority") }

        var credential = Credential.none
        if let userName = contextEntry["user"] as? String {
            let user = try named("users", userName, "user")
            if let token = user["token"] as? String {
                credential = .token(SecretValue(token))
            } else if let tokenFile = user["tokenFile"] as? String {
                credential = .tokenFile(file(tokenFile))
            } else if user["client-certificate-data"] != nil || user["client-certificate"] != nil {
                let certificate = if let data = user["client-certificate-data"] as? String {
                    try decoded(data, "client-certificate-data")
                } else {
                    try read(user["client-certificate"] as? String ?? "", "client-certificate")
                }
                guard user["client-key-data"] != nil || user["client-key"] != nil else {
                    throw .configuration("\(path): user '\(userName)' has a client certificate but no client key")
                }
                let key = if let data = user["client-key-data"] as? String {
                    try decoded(data, "client-key-data")
                } else {
                    try read(user["client-key"] as? String ?? "", "client-key")
                }
                credential = .clientCertificate(certificatePEM: certificate, keyPEM: SecretValue(key))
            } else if user["exec"] != nil || user["auth-provider"] != nil {
                throw .configuration("\(path): user '\(userName)' uses an exec or auth-provider plugin; give Slipway a token, token file or client certificate")
            }
        }
        return ClusterAccess(server: server, certificateAuthorityPEM: ca,
                             insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
                             credential: credential, namespace: contextEntry["namespace"] as? String)
    }

    /// The pod's service account, as every in-cluster client finds it.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount") throws(KubeError) -> ClusterAccess {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw .configuration("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        let tokenFile = (serviceAccountDirectory as NSString).appendingPathComponent("token")
        guard FileManager.default.fileExists(atPath: tokenFile) else {
            throw .configuration("no service account token at \(tokenFile)")
        }
        let ca = try? String(contentsOfFile: (serviceAccountDirectory as NSString).appendingPathComponent("ca.crt"), encoding: .utf8)
        let namespace = (try? String(contentsOfFile: (serviceAccountDirectory as NSString).appendingPathComponent("namespace"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClusterAccess(server: "https://\(hostPart):\(port)", certificateAuthorityPEM: ca, credential: .tokenFile(tokenFile), namespace: namespace)
    }
}
