// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "roundtrip",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "roundtrip", targets: ["roundtrip"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Pure: addresses, xtext, RFC 5322 headers, MIME. No I/O, no dependencies.
        .target(name: "MailCore", swiftSettings: strict),
        // Pure: SMTP grammar, replies, capabilities, DATA coding, client session state machine.
        .target(name: "SMTPCore", dependencies: ["MailCore"], swiftSettings: strict),
        // Pure: RFC 3464/6522/6533 and legacy NDR parsing.
        .target(name: "DeliveryReports", dependencies: ["MailCore"], swiftSettings: strict),
        // glibc libresolv shim for MX lookups with a per-call resolver state.
        .target(name: "CResolv", linkerSettings: [.linkedLibrary("resolv")]),
        // I/O: SMTP client on SwiftNIO + NIOSSL, TLS reports, MX resolution.
        .target(
            name: "MailTransport",
            dependencies: [
                "SMTPCore", "CResolv",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "roundtrip",
            dependencies: [
                "MailTransport", "SMTPCore", "DeliveryReports", "MailCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "MailCoreTests", dependencies: ["MailCore"], swiftSettings: strict),
        .testTarget(name: "SMTPCoreTests", dependencies: ["SMTPCore"], swiftSettings: strict),
        .testTarget(name: "DeliveryReportsTests", dependencies: ["DeliveryReports", "MailCore"], swiftSettings: strict),
        .testTarget(
            name: "MailTransportTests",
            dependencies: [
                "MailTransport", "SMTPCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "MailTransport", "SMTPCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
