import Foundation
import SlipwayTestSupport
import Testing

/// `/metrics` as Prometheus users expect it: HELP and TYPE for every family, every series
/// there from the start, the standard process metrics, and the build's version and commit.
@Suite struct MetricsTests {
    @Test func everySeriesIsThereFromTheStartWithHelpAndProcessMetrics() async throws {
        try await withLiveServer { server in
            let (status, body) = try await server.withClient(token: nil) { api in try await api.send(.GET, "/metrics") }
            #expect(status == 200)
            let text = String(decoding: body, as: UTF8.self)
            let lines = text.split(separator: "\n").map(String.init)

            var helped = Set<String>()
            var typed = Set<String>()
            var samples: [String: Double] = [:]
            for line in lines {
                let words = line.split(separator: " ", maxSplits: 3).map(String.init)
                if line.hasPrefix("# HELP ") { helped.insert(words[2]); #expect(words.count == 4, "HELP without text: \(line)") }
                else if line.hasPrefix("# TYPE ") { typed.insert(words[2]) }
                else if let space = line.lastIndex(of: " ") {
                    samples[String(line[..<space])] = Double(line[line.index(after: space)...])
                }
            }
            #expect(!typed.isEmpty)
            #expect(typed == helped, "families without HELP: \(typed.subtracting(helped))")
            for series in samples.keys {
                let family = String(series.prefix { $0 != "{" })
                let base = ["_bucket", "_sum", "_count"].reduce(family) { name, suffix in
                    name.hasSuffix(suffix) && typed.contains(String(name.dropLast(suffix.count))) ? String(name.dropLast(suffix.count)) : name
                }
                #expect(typed.contains(base), "\(series) has no TYPE line")
            }

            // Zero before the first event.
            for result in ["queued", "duplicate", "ignored", "ping", "unauthorized", "bad-request", "unavailable"] {
                #expect(samples[#"slipway_webhook_deliveries_total{forge="github",result="\#(result)"}"#] == 0, "\(result)")
                #expect(samples[#"slipway_webhook_deliveries_total{forge="gitlab",result="\#(result)"}"#] == 0, "\(result)")
            }
            for status in ["succeeded", "failed", "cancelled", "superseded", "interrupted"] {
                #expect(samples[#"slipway_jobs_total{status="\#(status)"}"#] == 0, "\(status)")
            }
            #expect(samples["slipway_job_duration_seconds_count"] == 0)
            #expect(samples[#"slipway_stage_duration_seconds_count{stage="deploy"}"#] == 0)
            #expect(samples[#"slipway_stage_duration_seconds_count{stage="pre-deploy"}"#] == 0)
            #expect(samples["slipway_queue_depth"] == 0)
            #expect(samples[#"slipway_poll_jobs_total{app="github"}"#] == 0)
            #expect(samples[#"slipway_app_sync_status{app="github",status="Unknown"}"#] == 1)
            #expect(samples[#"slipway_app_health_status{app="github",status="Healthy"}"#] == 0)
            #expect(samples[#"slipway_drifted_objects{app="github"}"#] == 0)

            // The process, as every Prometheus client library reports it.
            #expect((samples["process_resident_memory_bytes"] ?? 0) > 1_000_000)
            #expect((samples["process_virtual_memory_bytes"] ?? 0) > (samples["process_resident_memory_bytes"] ?? 0))
            #expect((samples["process_cpu_seconds_total"] ?? 0) > 0)
            #expect((samples["process_open_fds"] ?? 0) > 3)
            #expect((samples["process_max_fds"] ?? 0) >= (samples["process_open_fds"] ?? 0))
            let started = samples["process_start_time_seconds"] ?? 0
            #expect(abs(started - Date().timeIntervalSince1970) < 3600, "start time \(started)")

            let buildInfo = samples.first { $0.key.hasPrefix("slipway_build_info{") }
            #expect(buildInfo?.value == 1)
            #expect(buildInfo?.key.contains(#"version="0."#) == true, "\(buildInfo?.key ?? "no build info")")
            #expect(buildInfo?.key.contains(#"commit=""#) == true)

            // A delivery counts where it was zero.
            _ = try await server.withClient(token: nil) { api in try await api.send(.POST, "/hooks/github", body: Data("{}".utf8)) }
            let (_, after) = try await server.withClient(token: nil) { api in try await api.send(.GET, "/metrics") }
            #expect(String(decoding: after, as: UTF8.self).contains(#"slipway_webhook_deliveries_total{forge="github",result="unauthorized"} 1"#))
        }
    }
}
