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
        .library(name: "DrayEngine", targets: ["DrayEngine"]),
        .library(name: "DockerClient", targets: ["DockerClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
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
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // A Docker Engine API client, and the `ContainerRuntime` built on it.
        .target(
            name: "DockerClient",
            dependencies: [
                "DrayEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `dray` subcommands.
        .target(
            name: "DrayCLI",
            dependencies: [
                "DrayEngine",
                "DockerClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dray",
            dependencies: ["DrayCLI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DrayEngineTests",
            dependencies: ["DrayEngine"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DockerClientTests",
            dependencies: ["DockerClient"],
            swiftSettings: swiftSettings
        ),
        // Runs against a real Docker engine: see scripts/test.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "DrayEngine",
                "DockerClient",
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
