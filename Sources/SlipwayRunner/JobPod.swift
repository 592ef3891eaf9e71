import Foundation
import SlipwayConfig
import SlipwayCore

/// The objects one job attempt's pod run is made of, built before anything is sent: the Pod
/// (the workspace fetch, then each build and test step in its own image, in order, on one
/// workspace volume), the Secret its containers read the token, the app's secrets and the
/// passed server variables from, and for a job without network a NetworkPolicy.
///
/// Steps are init containers, which the kubelet runs one after another and stops at the
/// first that fails (restartPolicy Never); the last step is the pod's main container.
struct JobPod {
    static let managedByLabel = "app.kubernetes.io/managed-by"
    static let appLabel = "slipway.dev/app"
    static let jobLabel = "slipway.dev/job"
    static let attemptLabel = "slipway.dev/attempt"
    static let workspacePath = "/workspace"
    /// The fetch container's own folder (the CA certificate, the downloaded archive).
    static let fetchPath = "/slipway"
    static let fetchContainer = "workspace"

    /// What the pod needs from the server and the job.
    struct Inputs {
        var job: Job
        var app: AppConfig
        var steps: [StepSpec]
        var pipelineImage: String?
        var settings: KubernetesExecutorSettings
        var killGrace: Duration
        /// Slipway's variables, shown in the pod spec (nothing secret).
        var plainEnvironment: [String: String]
        /// The app's secrets and passed server variables: only in the Secret.
        var secretEnvironment: [String: String]
        var token: String
        /// `https://slipway.example.com/api/v1/jobs/ID/workspace`.
        var workspaceURL: String
        /// The server's certificate, when it is self-signed: the fetch trusts it, nothing else.
        var serverCertificate: String?
        /// Without network: the address the fetch may still reach (`host:port:ip` for curl's
        /// `--resolve`, and the NetworkPolicy's one allowed destination).
        var serverAddress: (host: String, port: Int, ip: String)?
    }

    let name: String
    let namespace: String
    let labels: [String: String]
    /// Container names in the order they run: the fetch, then one per step.
    let containers: [String]
    let pod: JSONValue
    let secret: JSONValue
    let networkPolicy: JSONValue?

    init(_ inputs: Inputs) {
        let job = inputs.job
        namespace = inputs.settings.namespace
        name = Self.objectName("slipway-\(inputs.app.name)-\(job.id)")
        labels = [
            Self.managedByLabel: "slipway",
            Self.appLabel: Self.labelValue(inputs.app.name),
            Self.jobLabel: String(job.id),
            Self.attemptLabel: String(job.attempt),
        ]
        let labelsJSON = JSONValue.object(labels.mapValues { .string($0) })
        let metadata: JSONValue = ["name": .string(name), "namespace": .string(namespace), "labels": labelsJSON,
                                   "annotations": ["slipway.dev/commit": .string(job.commit)]]
        let network = inputs.app.network && inputs.steps.allSatisfy(\.network)

        // `stringData`, as the recorded Secret a pod reads (workloads 166): the API server
        // stores it as `data`.
        var secretData: [String: JSONValue] = ["SLIPWAY_JOB_TOKEN": .string(inputs.token)]
        if let certificate = inputs.serverCertificate { secretData["SLIPWAY_CA_CERT"] = .string(certificate) }
        for (key, value) in inputs.secretEnvironment { secretData[key] = .string(value) }
        secret = ["apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": .object(secretData)]

        let secretName = name
        func fromSecret(_ key: String) -> JSONValue {
            ["name": .string(key), "valueFrom": ["secretKeyRef": ["name": .string(secretName), "key": .string(key)]]]
        }
        let security: JSONValue = ["allowPrivilegeEscalation": false]
        let workspaceMount: JSONValue = ["name": "workspace", "mountPath": .string(Self.workspacePath)]

        // The fetch: the job's commit from Slipway's own mirror, never from the forge.
        var fetchEnvironment: [JSONValue] = [["name": "SLIPWAY_WORKSPACE_URL", "value": .string(inputs.workspaceURL)], fromSecret("SLIPWAY_JOB_TOKEN")]
        if inputs.serverCertificate != nil { fetchEnvironment.append(fromSecret("SLIPWAY_CA_CERT")) }
        var names = [Self.fetchContainer]
        var specs: [JSONValue] = [[
            "name": .string(Self.fetchContainer), "image": .string(inputs.settings.fetchImage),
            "imagePullPolicy": .string(inputs.settings.imagePullPolicy),
            "command": ["/bin/sh", "-c", .string(Self.fetchScript(inputs, network: network))],
            "env": .array(fetchEnvironment), "securityContext": security,
            "volumeMounts": [workspaceMount, ["name": "slipway", "mountPath": .string(Self.fetchPath)]],
        ]]

        for (index, step) in inputs.steps.enumerated() {
            let containerName = Self.containerName(index: index + 1, step: step.name)
            names.append(containerName)
            // Variables: Slipway's, then the secrets, then the step's own (which win, as locally).
            var environment: [(String, JSONValue)] = inputs.plainEnvironment.sorted { $0.key < $1.key }.map { ($0.key, ["name": .string($0.key), "value": .string($0.value)]) }
            for key in inputs.secretEnvironment.keys.sorted() { environment.append((key, fromSecret(key))) }
            for (key, value) in step.env.sorted(by: { $0.key < $1.key }) { environment.append((key, ["name": .string(key), "value": .string(value)])) }
            var seen = Set<String>()
            let unique = environment.reversed().filter { seen.insert($0.0).inserted }.reversed().map(\.1)
            var container: JSONValue = [
                "name": .string(containerName),
                "image": .string(step.image ?? inputs.pipelineImage ?? inputs.settings.defaultImage),
                "imagePullPolicy": .string(inputs.settings.imagePullPolicy),
                "command": .array(Self.command(step).map { .string($0) }),
                "env": .array(Array(unique)),
                "workingDir": .string(step.workdir.map { "\(Self.workspacePath)/\($0)" } ?? Self.workspacePath),
                "securityContext": security,
                "volumeMounts": [workspaceMount],
            ]
            if let resources = step.resources {
                var amounts: [String: JSONValue] = [:]
                if let cpu = resources.cpu { amounts["cpu"] = .string(cpu) }
                if let memory = resources.memory { amounts["memory"] = .string(memory) }
                container["resources"] = ["requests": .object(amounts), "limits": .object(amounts)]
            }
            specs.append(container)
        }
        self.containers = names

        // The settings' template first; what Slipway sets for every job pod over it.
        var spec = inputs.settings.podTemplate.objectValue ?? [:]
        spec["enableServiceLinks"] = spec["enableServiceLinks"] ?? false
        spec["restartPolicy"] = "Never"
        if let account = inputs.settings.serviceAccount {
            spec["serviceAccountName"] = .string(account)
            spec["automountServiceAccountToken"] = true
        } else {
            spec["automountServiceAccountToken"] = false
        }
        spec["terminationGracePeriodSeconds"] = .int(max(1, inputs.killGrace.components.seconds))
        // A bound if Slipway is gone for good: every step's whole time, and an hour to spare.
        let stepSeconds = inputs.steps.reduce(Int64(0)) { $0 + $1.timeout.components.seconds * Int64($1.retries + 1) }
        spec["activeDeadlineSeconds"] = .int(stepSeconds + 3600)
        spec["volumes"] = [["name": "workspace", "emptyDir": [:]], ["name": "slipway", "emptyDir": [:]]]
        spec["initContainers"] = .array(Array(specs.dropLast()))
        spec["containers"] = [specs[specs.count - 1]]
        pod = ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": .object(spec)]

        if network {
            networkPolicy = nil
        } else {
            // No ingress; egress only to Slipway's address, for the fetch (which needs no DNS:
            // curl is given the address). A cluster without a NetworkPolicy implementation
            // ignores this (README).
            var egress: [JSONValue] = []
            if let address = inputs.serverAddress {
                let cidr = address.ip.contains(":") ? "\(address.ip)/128" : "\(address.ip)/32"
                egress.append(["to": [["ipBlock": ["cidr": .string(cidr)]]], "ports": [["protocol": "TCP", "port": .int(Int64(address.port))]]])
            }
            networkPolicy = ["apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata,
                             "spec": ["podSelector": ["matchLabels": .object([Self.jobLabel: .string(String(job.id))])],
                                      "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": .array(egress)]]
        }
    }

    /// An object of this run, made to belong to the pod: the cluster deletes it with the pod.
    func ownedByPod(_ object: JSONValue, uid: String) -> JSONValue {
        var owned = object
        owned["metadata"]?["ownerReferences"] = [["apiVersion": "v1", "kind": "Pod", "name": .string(name), "uid": .string(uid),
                                                  "controller": false, "blockOwnerDeletion": false]]
        return owned
    }

    /// The step's script under `/bin/sh -e`, run again up to its retries inside the container
    /// (a failed init container would end the pod, and the workspace with it).
    static func command(_ step: StepSpec) -> [String] {
        let script: String
        switch step.command {
        case .shell(let text):
            script = text
        // (`hook:` steps are not build or test steps: the pipeline's parser allows them in
        // `hooks:` only, which run on the server.)
        case .repositoryScript(let path), .serverHook(let path):
            let file = shellQuoted("\(workspacePath)/\(path)")
            script = "if [ -x \(file) ]; then exec \(file); else exec /bin/sh \(file); fi"
        }
        guard step.retries > 0 else { return ["/bin/sh", "-e", "-c", script] }
        let wrapper = """
            attempt=1
            while :; do
              /bin/sh -e -c "$1" && exit 0
              code=$?
              if [ "$attempt" -gt \(step.retries) ]; then exit "$code"; fi
              attempt=$((attempt + 1))
              echo "slipway: exit code $code; attempt $attempt of \(step.retries + 1)" >&2
            done
            """
        return ["/bin/sh", "-c", wrapper, "slipway-step", script]
    }

    private static func fetchScript(_ inputs: Inputs, network: Bool) -> String {
        var curl = ["curl --fail --silent --show-error --retry 5 --retry-connrefused --retry-delay 1"]
        if inputs.serverCertificate != nil { curl.append("--cacert \(fetchPath)/ca.crt") }
        if !network, let address = inputs.serverAddress {
            curl.append("--resolve \(shellQuoted("\(address.host):\(address.port):\(address.ip)"))")
        }
        curl.append("-H \"Authorization: Bearer $SLIPWAY_JOB_TOKEN\" -o \(fetchPath)/workspace.tar \"$SLIPWAY_WORKSPACE_URL\"")
        var lines = ["set -e"]
        if inputs.serverCertificate != nil { lines.append("printf '%s\\n' \"$SLIPWAY_CA_CERT\" > \(fetchPath)/ca.crt") }
        lines.append(curl.joined(separator: " "))
        lines.append("tar -x -f \(fetchPath)/workspace.tar -C \(workspacePath)")
        lines.append("rm -f \(fetchPath)/workspace.tar")
        // The steps' images may run as any user: the workspace is theirs to write.
        lines.append("chmod -R a+rwX \(workspacePath)")
        lines.append("echo \"workspace: commit \(inputs.job.commit.prefix(12)) unpacked into \(workspacePath)\"")
        return lines.joined(separator: "\n")
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `s1-compile`: a DNS label, unique by its index.
    static func containerName(index: Int, step: String) -> String {
        let cleaned = String(step.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "-" })
        let trimmed = cleaned.split(separator: "-", omittingEmptySubsequences: true).joined(separator: "-")
        let name = "s\(index)" + (trimmed.isEmpty ? "" : "-\(trimmed)")
        return String(name.prefix(63)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }

    /// An object name from an app name (which may hold `_` and `.`): a DNS label, at most 63.
    static func objectName(_ text: String) -> String {
        let cleaned = String(text.lowercased().map { ($0.isLetter || $0.isNumber) && $0.isASCII ? $0 : "-" })
        guard cleaned.count > 63 else { return cleaned }
        // Keep the end (the job id) when the app's name is long.
        return String(cleaned.prefix(40)) + "-" + String(cleaned.suffix(22))
    }

    /// A label value: at most 63 characters of letters, digits, `-`, `_`, `.`.
    static func labelValue(_ text: String) -> String {
        String(String(text.map { ($0.isLetter || $0.isNumber) && $0.isASCII || "-_.".contains($0) ? $0 : "-" }).prefix(63))
    }
}
