// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "slipway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slipway", targets: ["slipway"]),
        .executable(name: "slipway-step-guard", targets: ["slipway-step-guard"]),
        .executable(name: "slipway-fuzz", targets: ["SlipwayFuzzMain"]),
        .executable(name: "slipway-webhook-bench", targets: ["WebhookBenchmark"]),
        .executable(name: "slipway-deploy-bench", targets: ["DeployBenchmark"]),
        .executable(name: "slipway-scale-bench", targets: ["ScaleBenchmark"]),
        .executable(name: "slipway-pod-bench", targets: ["PodBenchmark"]),
        .executable(name: "slipway-rollout-bench", targets: ["RolloutBenchmark"]),
        .executable(name: "slipway-kube-api-server", targets: ["KubeAPIServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already in the graph through Hummingbird: its NIOHTTPTypes names the request parts a
        // channel handler sees (the request-head limits).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The shared store of several replicas (issue 10): PostgreSQL's own client for
        // Swift on NIO, the same event loops as the HTTP server and client.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The dashboard's server-rendered pages (issue 11): logic-less templates with HTML
        // escaping by default, from the Hummingbird project.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // The small core every other target points down to.
        .target(
            name: "SlipwayCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayConfig",
            dependencies: ["SlipwayCore", "Yams"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayWebhooks",
            dependencies: ["SlipwayCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayStore",
            dependencies: [
                "SlipwayCore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CLibgit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .target(
            name: "SlipwayGit",
            dependencies: ["SlipwayCore", "CLibgit2", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayKube",
            dependencies: [
                "SlipwayCore", "Yams",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayDeploy",
            dependencies: ["SlipwayCore", "SlipwayConfig", "SlipwayKube", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Reporting to the forges: the commit status outbox and what sends it.
        .target(
            name: "SlipwayForge",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayRollout",
            dependencies: [
                "SlipwayCore", "SlipwayKube", "SlipwayDeploy",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayRunner",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayStore", "SlipwayGit", "SlipwayKube", "SlipwayDeploy", "SlipwayMetrics", "SlipwayForge",
                "SlipwayRollout",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayMetrics",
            dependencies: ["SlipwayCore", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings,
            plugins: ["BuildInfoPlugin"]
        ),
        // Records the commit a binary is built from (`slipway --version`, slipway_build_info).
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "Sources/BuildInfoPlugin"),
        .target(
            name: "SlipwayReconciler",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayStore", "SlipwayGit", "SlipwayKube", "SlipwayDeploy", "SlipwayForge",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "SlipwayMetrics",
            ],
            swiftSettings: swiftSettings
        ),
        // The dashboard's pages: templates, styles and script embedded in the binary, and the
        // view models the server fills.
        .target(
            name: "SlipwayWeb",
            dependencies: ["SlipwayCore", .product(name: "Mustache", package: "swift-mustache"), .product(name: "Crypto", package: "swift-crypto")],
            resources: [
                .embedInCode("Templates/layout.mustache"), .embedInCode("Templates/login.mustache"),
                .embedInCode("Templates/apps.mustache"), .embedInCode("Templates/app.mustache"),
                .embedInCode("Templates/jobs.mustache"), .embedInCode("Templates/job.mustache"),
                .embedInCode("Templates/message.mustache"),
                .embedInCode("Assets/dashboard.css"), .embedInCode("Assets/dashboard.js"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayServer",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayWebhooks", "SlipwayStore", "SlipwayRunner", "SlipwayGit",
                "SlipwayReconciler", "SlipwayMetrics", "SlipwayDeploy", "SlipwayWeb", "SlipwayForge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            // The API's description, served at /api/v1/openapi.yaml.
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayClient",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayWebhooks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "slipway",
            dependencies: [
                "SlipwayServer", "SlipwayClient", "SlipwayConfig", "SlipwayCore", "SlipwayRunner", "SlipwayGit", "SlipwayKube",
                "SlipwayReconciler", "SlipwayMetrics", "SlipwayForge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The parent of every step: kills the step's process group when the server is gone.
        .executableTarget(
            name: "slipway-step-guard",
            swiftSettings: swiftSettings
        ),
        // Benchmarks: run on demand (see README), never part of the test suite.
        .executableTarget(
            name: "WebhookBenchmark",
            dependencies: [
                "SlipwayCore", "SlipwayWebhooks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Benchmarks/WebhookBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DeployBenchmark",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayDeploy", "SlipwayKube", "SlipwayStore", "SlipwayClient", "KubeTestServer", "SlipwayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/DeployBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ScaleBenchmark",
            dependencies: [
                "SlipwayCore", "SlipwayKube", "SlipwayClient", "KubeTestServer", "SlipwayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/ScaleBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PodBenchmark",
            dependencies: ["SlipwayCore", "SlipwayClient", "SlipwayWebhooks", "KubeTestServer", "SlipwayTestSupport"],
            path: "Benchmarks/PodBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RolloutBenchmark",
            dependencies: ["SlipwayCore", "SlipwayClient", "SlipwayWebhooks", "KubeTestServer", "SlipwayTestSupport"],
            path: "Benchmarks/RolloutBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "KubeAPIServer",
            dependencies: ["KubeTestServer"],
            path: "Benchmarks/KubeAPIServer",
            swiftSettings: swiftSettings
        ),
        // Test support: helpers every test target uses (fixtures, signing, a live server).
        .target(
            name: "SlipwayTestSupport",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayServer", "SlipwayClient", "SlipwayStore", "SlipwayRunner", "SlipwayGit", "SlipwayKube",
                "SlipwayReconciler", "SlipwayMetrics", "SlipwayForge",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "SlipwayWebhooks",
            ],
            path: "Tests/SlipwayTestSupport",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // Fuzz targets: every parser of outside bytes (script/fuzz runs them under libFuzzer).
        .target(
            name: "SlipwayFuzz",
            dependencies: ["SlipwayCore", "SlipwayConfig", "SlipwayWebhooks", "SlipwayDeploy", "SlipwayKube"],
            path: "Tests/SlipwayFuzz",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SlipwayFuzzMain",
            dependencies: ["SlipwayFuzz"],
            path: "Tests/SlipwayFuzzMain",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayFuzzTests",
            dependencies: ["SlipwayFuzz"],
            swiftSettings: swiftSettings
        ),
        // The Kubernetes API test server: the real wire protocol, in-process.
        .target(
            name: "KubeTestServer",
            dependencies: [
                "SlipwayCore", "SlipwayConfig", "SlipwayServer", "SlipwayKube", "SlipwayTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                "Yams",
            ],
            path: "Tests/KubeTestServer",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayDeployTests",
            dependencies: ["SlipwayDeploy", "SlipwayKube", "SlipwayCore", "SlipwayConfig", "KubeTestServer", "SlipwayTestSupport", "SlipwayStore",
                           "SlipwayRollout", "SlipwayClient",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayReconcilerTests",
            dependencies: ["SlipwayReconciler", "SlipwayDeploy", "SlipwayKube", "SlipwayCore", "SlipwayConfig", "SlipwayStore",
                           "KubeTestServer", "SlipwayTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeTestServerTests",
            dependencies: ["KubeTestServer", "SlipwayCore", "SlipwayConfig", "SlipwayTestSupport", "SlipwayKube",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayWebhooksTests",
            dependencies: ["SlipwayWebhooks", "SlipwayCore", "SlipwayTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayConfigTests",
            dependencies: ["SlipwayConfig", "SlipwayCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayRunnerTests",
            dependencies: ["SlipwayRunner", "SlipwayCore", "SlipwayConfig", "SlipwayStore", "SlipwayGit", "SlipwayTestSupport", "SlipwayKube", "KubeTestServer", "SlipwayClient",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayGitTests",
            dependencies: ["SlipwayGit", "SlipwayCore", "SlipwayTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayStoreTests",
            dependencies: ["SlipwayStore", "SlipwayCore", "SlipwayTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayWebTests",
            dependencies: ["SlipwayWeb", "SlipwayCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayServerTests",
            dependencies: [
                "SlipwayServer", "SlipwayCore", "SlipwayTestSupport", "SlipwayClient", "SlipwayStore", "SlipwayWebhooks", "SlipwayMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
