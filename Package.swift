// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "dray",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dray", targets: ["dray"]),
        .executable(name: "dray-bench", targets: ["DrayBench"]),
        .library(name: "DrayEngine", targets: ["DrayEngine"]),
        .library(name: "DockerClient", targets: ["DockerClient"]),
        .library(name: "DrayDocker", targets: ["DrayDocker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Only the OTLP/HTTP exporter: the gRPC one would bring grpc-swift into every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // The job model, its validation, and the engine that runs steps; the
        // `ContainerRuntime` and `JobStore` protocols it is written against.
        .target(
            name: "DrayEngine",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // A Docker Engine API client: it speaks the Engine API (Docker's and Podman's) and knows
        // nothing of jobs.
        .target(
            name: "DockerClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `ContainerRuntime` on a Docker (or Podman) engine: steps as containers, their
        // sandboxes, and the registry logins of the docker CLI's config.json.
        .target(
            name: "DrayDocker",
            dependencies: [
                "DrayEngine",
                "DockerClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The job store on SQLite (GRDB), the default.
        .target(
            name: "DraySQLite",
            dependencies: [
                "DrayEngine",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The job store on Redis, in the original Dray's key layout, with its own small RESP client.
        .target(
            name: "DrayRedis",
            dependencies: [
                "DrayEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The job store on PostgreSQL (postgres-nio), which many nodes share.
        .target(
            name: "DrayPostgres",
            dependencies: [
                "DrayEngine",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A fake container runtime, for tests of pure engine and service logic without Docker.
        .target(
            name: "DrayEngineTesting",
            dependencies: [
                "DrayEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            path: "Tests/DrayEngineTesting",
            swiftSettings: swiftSettings
        ),
        // The contract every `JobStore` passes, run by each store's tests.
        .target(
            name: "DrayStoreTesting",
            dependencies: ["DrayEngine"],
            path: "Tests/DrayStoreTesting",
            swiftSettings: swiftSettings
        ),
        // What a client and the server agree on: the API's wire types, the live log's event
        // codec and the bearer token, and the client the `dray` verbs call the API with.
        .target(
            name: "DrayAPI",
            dependencies: [
                "DrayEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The REST API: the seed's routes on Hummingbird, and the service that runs submitted jobs.
        .target(
            name: "DrayServer",
            dependencies: [
                "DrayEngine",
                "DrayAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [
                .embedInCode("openapi.yaml"), .embedInCode("schema/job.json"), .embedInCode("Dashboard/index.html"),
                .embedInCode("Dashboard/dashboard.js"), .embedInCode("Dashboard/dashboard.css"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `dray` subcommands.
        .target(
            name: "DrayCLI",
            dependencies: [
                "DrayEngine",
                "DockerClient",
                "DrayDocker",
                "DrayAPI",
                "DrayServer",
                "DraySQLite",
                "DrayRedis",
                "DrayPostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dray",
            dependencies: ["DrayCLI"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DrayBench",
            dependencies: ["DrayEngine", "DraySQLite", "DrayRedis", "DrayPostgres"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DrayEngineTests",
            dependencies: ["DrayEngine", "DrayEngineTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DraySQLiteTests",
            dependencies: ["DraySQLite", "DrayStoreTesting", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // Runs against real redis-server processes: see scripts/test.
        .testTarget(
            name: "DrayRedisTests",
            dependencies: ["DrayRedis", "DrayStoreTesting"],
            swiftSettings: swiftSettings
        ),
        // Runs against a real PostgreSQL: see scripts/test.
        .testTarget(
            name: "DrayPostgresTests",
            dependencies: ["DrayPostgres", "DrayStoreTesting", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DrayServerTests",
            dependencies: [
                "DrayServer",
                "DrayAPI",
                "DraySQLite",
                "DrayEngineTesting",
                "DrayStoreTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DockerClientTests",
            dependencies: ["DockerClient"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DrayAPITests",
            dependencies: ["DrayAPI", "DrayEngine", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DrayDockerTests",
            dependencies: ["DrayDocker", "DockerClient"],
            swiftSettings: swiftSettings
        ),
        // Runs against a real Docker engine: see scripts/test.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "DrayAPI",
                "DrayEngine",
                "DockerClient",
                "DrayDocker",
                "DrayServer",
                "DraySQLite",
                "DrayRedis",
                "DrayPostgres",
                "DrayStoreTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
