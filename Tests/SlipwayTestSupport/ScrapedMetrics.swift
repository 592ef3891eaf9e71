public import Foundation
import Hummingbird
import Logging

/// A metrics endpoint a test controls, scraped every second by the throwaway Prometheus of
/// `script/with-prometheus`: `http_requests_total{track="canary",code=...}` counters that grow
/// by 100 requests a second, `successRate` of them answered 200 and the rest 500.
public final class ScrapedMetrics: Sendable {
    private actor Counters {
        var successRate: Double
        var ok = 0.0
        var failed = 0.0
        var last = Date()
        init(successRate: Double) { self.successRate = successRate }

        func set(_ rate: Double) {
            advance()
            successRate = rate
        }

        func exposition() -> String {
            advance()
            return """
                # TYPE http_requests_total counter
                http_requests_total{track="canary",code="200"} \(Int(ok))
                http_requests_total{track="canary",code="500"} \(Int(failed))

                """
        }

        private func advance() {
            let now = Date()
            let requests = now.timeIntervalSince(last) * 100
            last = now
            ok += requests * successRate
            failed += requests * (1 - successRate)
        }
    }

    private let served: ServedApplication
    private let counters: Counters
    private let targetFile: String
    /// The label every series of this endpoint carries in Prometheus (`test="…"`).
    public let testLabel: String

    /// The Prometheus `script/with-prometheus` started.
    public static func prometheusURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["SLIPWAY_TEST_PROMETHEUS_URL"] else {
            throw ScrapedMetricsError("SLIPWAY_TEST_PROMETHEUS_URL is not set: run the suite with script/test (or script/with-prometheus swift test)")
        }
        return url
    }

    /// Serves the counters on a free port and has Prometheus scrape them.
    public static func start(successRate: Double) async throws -> ScrapedMetrics {
        _ = try prometheusURL()
        guard let targets = ProcessInfo.processInfo.environment["SLIPWAY_TEST_PROMETHEUS_TARGETS"] else {
            throw ScrapedMetricsError("SLIPWAY_TEST_PROMETHEUS_TARGETS is not set: run the suite with script/with-prometheus")
        }
        let counters = Counters(successRate: successRate)
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: await counters.exposition())))
        }
        var logger = Logger(label: "scraped-metrics")
        logger.logLevel = .error
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        let label = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = (targets as NSString).appendingPathComponent("\(label).json")
        let target = #"[{"targets": ["127.0.0.1:\#(served.port)"], "labels": {"test": "\#(label)"}}]"#
        // Written whole, then renamed: Prometheus never reads half a file.
        try Data(target.utf8).write(to: URL(fileURLWithPath: file + ".tmp"))
        try FileManager.default.moveItem(atPath: file + ".tmp", toPath: file)
        return ScrapedMetrics(served: served, counters: counters, targetFile: file, testLabel: label)
    }

    private init(served: ServedApplication, counters: Counters, targetFile: String, testLabel: String) {
        self.served = served
        self.counters = counters
        self.targetFile = targetFile
        self.testLabel = testLabel
    }

    /// The canary's share of successful requests from now on.
    public func setSuccessRate(_ rate: Double) async { await counters.set(rate) }

    /// The canary's success rate over the last `window`, as a rollout's analysis would ask it.
    public func successRateQuery(window: String = "5s") -> String {
        #"sum(rate(http_requests_total{test="\#(testLabel)",track="canary",code!~"5.."}[\#(window)])) / sum(rate(http_requests_total{test="\#(testLabel)",track="canary"}[\#(window)]))"#
    }

    public func stop() async {
        try? FileManager.default.removeItem(atPath: targetFile)
        await served.stop()
    }
}

public struct ScrapedMetricsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
