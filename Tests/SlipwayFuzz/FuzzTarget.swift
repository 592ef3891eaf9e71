public import Foundation
import SlipwayConfig
public import SlipwayCore
import SlipwayDeploy
@testable import SlipwayKube
import SlipwayWebhooks

/// Every parser that reads bytes from outside, as one fuzz target each. An input may be
/// anything: a target must return (an error is a fine answer), never crash or hang.
///
/// `slipway-fuzz` runs one under libFuzzer (`script/fuzz`); `CorpusReplayTests` replays the
/// committed corpus (`Tests/Fuzz/Corpus/TARGET/`) in every test run, so a crash once found
/// stays fixed.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A delivery to each forge's adapter: verify and parse (`WebhookIntake.decide`).
    case webhook
    /// The server configuration file.
    case serverConfig = "server-config"
    /// An app's pipeline file.
    case pipeline
    /// Rendered manifests: YAML documents, variable substitution, validation.
    case manifests
    /// What the Kubernetes API answers: objects, Status errors, watch lines, health,
    /// managed fields, diffs.
    case kubeJSON = "kube-json"

    public func run(_ data: Data) {
        switch self {
        case .webhook: Self.webhook(data)
        case .serverConfig: Self.serverConfig(data)
        case .pipeline: _ = try? PipelineSpec.parse(String(decoding: data, as: UTF8.self), file: ".slipway.yaml")
        case .manifests: Self.manifests(data)
        case .kubeJSON: Self.kubeJSON(data)
        }
    }

    /// The webhook secret of the fuzzed apps (as in the forge fixtures).
    public static let secret = "fixture-secret-7d3f"

    /// Input: one byte choosing the forge, one byte of flags (bit 0: sign the body with the
    /// app's secret, so parsing is reached), then `Name: value` header lines, an empty line,
    /// and the body. `WebhookInput.encode` writes this form.
    static func webhook(_ data: Data) {
        guard let input = WebhookInput(data) else { return }
        let app = AppConfig(name: "fuzz", repoURL: "https://git.example.com/acme/fuzz.git", forge: input.forge,
                            webhookSecrets: [SecretValue(secret)])
        var headers = input.headers
        if input.sign {
            let signed = input.forge.adapter.signedHeaders(body: input.body, event: input.event, deliveryID: input.delivery,
                                                           secret: SecretValue(secret), now: Date(timeIntervalSince1970: 1_800_000_000))
            let names = Set(signed.map { $0.name.lowercased() })
            headers = headers.filter { !names.contains($0.name.lowercased()) } + signed
        }
        _ = try? WebhookIntake().decide(WebhookRequest(headers: headers, body: input.body), for: app, now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    static func serverConfig(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        // Secret files are the operator's: reading one (say /dev/zero) or generating one (a
        // write anywhere) is what the file asks for, not a parser fault.
        guard !text.contains("file"), !text.contains("generate") else { return }
        _ = try? ServerConfig.parse(text, file: "slipway.yaml", environment: ["SECRET": "s", "SLIPWAY_DATABASE_URL": "postgres://u@h/d"])
    }

    static func manifests(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        let variables = ["SLIPWAY_COMMIT": String(repeating: "a", count: 40), "IMAGE": "shop:1.0", "REPLICAS": "3"]
        _ = try? VariableSubstitution.apply(text, variables: variables)
        if let rendered = try? Renderer.renderOutput(text, variables: variables) {
            _ = try? Renderer.validate(rendered)
            for manifest in rendered { _ = (manifest.reference, manifest.group, manifest.namespace) }
        }
    }

    static func kubeJSON(_ data: Data) {
        for line in data.split(separator: UInt8(ascii: "\n")) {
            _ = try? KubeClient.watchEvent(Data(line), apiVersion: "apps/v1", kind: "Deployment")
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: data) else { return }
        _ = KubeError.fromStatus(json, code: json["code"]?.intValue.map(Int.init) ?? 500).description
        _ = HealthRules.assess(json)
        _ = FieldOwnership.ownedPaths(of: json, manager: "slipway")
        _ = ObjectDiff.changes(live: json, desired: json["spec"] ?? json)
        _ = try? SlipwayJSON.data(json)
    }
}

/// The webhook target's input form.
public struct WebhookInput: Sendable {
    public var forge: Forge
    public var sign: Bool
    public var headers: [(name: String, value: String)]
    public var body: Data

    var event: String { headers.first { $0.name.lowercased().hasSuffix("-event") || $0.name.lowercased() == "x-event-key" }?.value ?? "push" }
    var delivery: String { headers.first { $0.name.lowercased().contains("delivery") || $0.name.lowercased() == "x-request-uuid" }?.value ?? "fuzz" }

    public init(forge: Forge, sign: Bool, headers: [(name: String, value: String)], body: Data) {
        self.forge = forge
        self.sign = sign
        self.headers = headers
        self.body = body
    }

    init?(_ data: Data) {
        guard data.count >= 2 else { return nil }
        let bytes = [UInt8](data)
        forge = Forge.allCases[Int(bytes[0]) % Forge.allCases.count]
        sign = bytes[1] & 1 == 1
        let rest = bytes[2...]
        let separator: [UInt8] = Array("\n\n".utf8)
        var split = rest.endIndex
        var index = rest.startIndex
        while index + 1 < rest.endIndex {
            if rest[index] == separator[0] && rest[index + 1] == separator[1] { split = index; break }
            index += 1
        }
        let head = String(decoding: rest[rest.startIndex..<split], as: UTF8.self)
        headers = head.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        body = split < rest.endIndex ? Data(rest[(split + 2)...]) : Data()
    }

    /// The bytes the webhook target reads.
    public func encode() -> Data {
        var data = Data([UInt8(Forge.allCases.firstIndex(of: forge) ?? 0), sign ? 1 : 0])
        data.append(contentsOf: headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n").utf8)
        data.append(contentsOf: "\n\n".utf8)
        data.append(body)
        return data
    }
}
