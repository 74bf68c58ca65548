// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "porter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "porter", targets: ["PorterCLI"]),
        .library(name: "Porter", targets: ["Porter"]),
        .library(name: "PorterProtocol", targets: ["PorterProtocol"]),
        // libFuzzer targets, linked by fuzz/run.sh (an executable target cannot take libFuzzer's main).
        .library(name: "PorterFuzz", type: .static, targets: ["PorterFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // The wire protocol: frames, messages, limits, authentication and pure state machines. No I/O.
        .target(
            name: "PorterProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Fuzz targets for the decoders and path checks (fuzz/run.sh).
        .target(
            name: "PorterFuzz",
            dependencies: [
                "PorterProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The few system calls Swift cannot make directly (variadic syscall and ioctl) and process creation.
        .target(name: "CPorterSystem"),
        // xxHash 0.8.4, vendored unchanged (BSD 2-Clause): XXH3-128, the default checksum of file transfers.
        .target(name: "CXXHash", exclude: ["LICENSE"]),
        // Servers, clients and services on SwiftNIO.
        .target(
            name: "Porter",
            dependencies: [
                "PorterProtocol",
                "CPorterSystem",
                "CXXHash",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The `porter` command: argument parsing and terminal output only.
        .executableTarget(
            name: "PorterCLI",
            dependencies: [
                "Porter",
                "CPorterSystem",
                "PorterProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Load generator for bench/: raw or Porter-framed echo round trips over many connections.
        .executableTarget(
            name: "porter-echo-load",
            dependencies: [
                "Porter",
                "PorterProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/EchoLoad"
        ),
        // Many idle connections, or a crowded chat room, for reliability/load.sh.
        .executableTarget(
            name: "porter-load",
            dependencies: [
                "Porter",
                "PorterProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/Load"
        ),
        // Commands per second over one Porter session, or spawned locally, for bench/exec.sh.
        .executableTarget(
            name: "porter-exec-load",
            dependencies: [
                "Porter",
                "PorterProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/ExecLoad"
        ),
        .testTarget(
            name: "PorterProtocolTests",
            dependencies: [
                "PorterProtocol",
                "PorterFuzz",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PorterTests",
            dependencies: [
                "Porter",
                "CPorterSystem",
                "PorterProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
