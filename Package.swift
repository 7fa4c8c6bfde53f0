// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

// The commit `roundtrip --version` names: scripts/package.sh sets ROUNDTRIP_COMMIT from
// `git rev-parse --short HEAD` (with "-dirty" when tracked files differ from it); anything
// else, or nothing (a plain `swift build`), builds as "unknown".
let buildCommit: String = {
    guard let value = Context.environment["ROUNDTRIP_COMMIT"] else { return "unknown" }
    let hash = value.hasSuffix("-dirty") ? value.dropLast("-dirty".count) : Substring(value)
    guard (4...40).contains(hash.count), hash.allSatisfy(\.isHexDigit) else { return "unknown" }
    return value
}()

let package = Package(
    name: "roundtrip",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "roundtrip", targets: ["roundtrip"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Pure: addresses, xtext, RFC 5322 headers, MIME. No I/O, no dependencies.
        .target(name: "MailCore", swiftSettings: strict),
        // Pure: SMTP grammar, replies, capabilities, DATA coding, the client dialog and session machines,
        // the server session machine.
        .target(name: "SMTPCore", dependencies: ["MailCore"], swiftSettings: strict),
        // Pure: IMAP framing (literals), responses, commands, client state machine incl. IDLE;
        // POP3 replies and client state machine; mailbox URLs. No NIO.
        .target(name: "MailboxCore", dependencies: ["MailCore"], swiftSettings: strict),
        // Pure: RFC 3464/6522/6533 and legacy NDR parsing.
        .target(name: "DeliveryReports", dependencies: ["MailCore"], swiftSettings: strict),
        // Pure: probe tokens (HMAC), probe builder, correlator, verdicts, renderers.
        .target(
            name: "RoundtripCore",
            dependencies: [
                "SMTPCore", "DeliveryReports", "MailCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // glibc libresolv shim for MX lookups with a per-call resolver state.
        .target(name: "CResolv", linkerSettings: [.linkedLibrary("resolv")]),
        // Build facts for `roundtrip --version` (the commit, from the environment at build time).
        .target(name: "CBuildInfo", cSettings: [.define("ROUNDTRIP_COMMIT", to: "\"\(buildCommit)\"")]),
        // I/O: SMTP client on SwiftNIO + NIOSSL, TLS reports, MX resolution.
        .target(
            name: "MailTransport",
            dependencies: [
                "SMTPCore", "MailboxCore", "MailCore", "CResolv",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // I/O: the ledger (GRDB/SQLite), the runs (verify, send, ...), report feeds.
        .target(
            name: "Roundtrip",
            dependencies: [
                "RoundtripCore", "MailTransport", "MailboxCore", "DeliveryReports", "SMTPCore", "MailCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // I/O: `roundtrip monitor`: verify runs on a schedule, Prometheus metrics and the status page over HTTP.
        .target(
            name: "RoundtripMonitor",
            dependencies: [
                "Roundtrip", "RoundtripCore", "MailTransport", "SMTPCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "roundtrip",
            dependencies: [
                "Roundtrip", "RoundtripMonitor", "RoundtripCore", "MailTransport", "SMTPCore", "MailboxCore",
                "DeliveryReports", "MailCore",
                "CBuildInfo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Parser throughput over ../shared/corpus (Benchmarks/parse-bench.sh). Pure targets only.
        .executableTarget(name: "ParseBench", dependencies: ["DeliveryReports", "MailCore"], swiftSettings: strict),
        // libFuzzer driver declaration (toolchain-notes.md §3); header only.
        .target(name: "CFuzzer"),
        // libFuzzer entry points for every parser that faces the network (scripts/fuzz.sh):
        // reports/MIME, SMTP server commands and session, SMTP replies, IMAP, POP3.
        .executableTarget(
            name: "RoundtripFuzz", dependencies: ["CFuzzer", "DeliveryReports", "MailCore", "SMTPCore", "MailboxCore"],
            swiftSettings: strict
        ),
        // A seeded random generator for the test targets; no dependencies.
        .target(name: "TestRandom", path: "Tests/TestRandom", swiftSettings: strict),
        .testTarget(name: "MailCoreTests", dependencies: ["MailCore", "TestRandom"], swiftSettings: strict),
        .testTarget(
            name: "SMTPCoreTests", dependencies: ["SMTPCore", "MailCore", "TestRandom"], swiftSettings: strict),
        .testTarget(name: "RoundtripCoreTests", dependencies: ["RoundtripCore", "TestRandom"], swiftSettings: strict),
        .testTarget(name: "MailboxCoreTests", dependencies: ["MailboxCore"], swiftSettings: strict),
        .testTarget(
            name: "DeliveryReportsTests", dependencies: ["DeliveryReports", "MailCore"], swiftSettings: strict),
        // Shared by the test targets: a scripted SMTP server, a fake DNS server, test certificates.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "MailTransportTests",
            dependencies: [
                "MailTransport", "SMTPCore", "MailboxCore", "MailCore", "TestSupport",
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
            name: "RoundtripTests",
            dependencies: [
                "Roundtrip", "RoundtripCore", "MailTransport", "DeliveryReports", "SMTPCore", "MailCore", "TestSupport",
                "TestRandom",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The command line: option parsing (parseAsRoot), exit codes and their documentation.
        .testTarget(
            name: "CLITests",
            dependencies: [
                "roundtrip", "Roundtrip", "RoundtripCore", "MailTransport", "SMTPCore", "MailboxCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "MailTransport", "SMTPCore", "MailboxCore", "MailCore", "DeliveryReports", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
