import Foundation
import Testing

/// The TOML config file, through the real binary (no services needed).
@Suite struct ConfigFileTests {
    func write(_ text: String) async throws -> String {
        let path = NSTemporaryDirectory() + "roundtrip-config-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func valuesBecomeOptions() async throws {
        let path = try await write("[check]\nstarttls = \"sometimes\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 64, "the invalid value from the file reached the parser: \(r.stderr)")
        #expect(r.stderr.contains("sometimes"))
    }

    @Test func flagsOverrideTheFile() async throws {
        let path = try await write("[check]\nstarttls = \"sometimes\"\nconnect-timeout = 5\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await roundtrip(["check", "127.0.0.1:1", "--starttls", "never", "--config", path])
        #expect(r.status == 20, "\(r.stdout)\(r.stderr)")
    }

    @Test func defaultLocationFromTheEnvironment() async throws {
        let path = try await write("[check]\ntls-verify = \"nonsense\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await roundtrip(["check", "127.0.0.1:1"], environment: ["ROUNDTRIP_CONFIG": path])
        #expect(r.status == 64)
    }

    @Test func secretsAreRefused() async throws {
        let path = try await write("[check]\nauth = \"u@x\"\npassword = \"Canary-Secret-9\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("password-file"))
        #expect(!r.stderr.contains("Canary-Secret-9"))
    }

    @Test func brokenTOMLOrMissingFileIsAConfigurationError() async throws {
        let path = try await write("[check\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try await roundtrip(["check", "127.0.0.1:1", "--config", path]).status == 78)
        #expect(try await roundtrip(["check", "127.0.0.1:1", "--config", "/nonexistent/roundtrip.toml"]).status == 78)
    }

    @Test func otherSubcommandsSectionsAreIgnored() async throws {
        let path = try await write("[parse]\nformat = \"json\"\n[check]\nconnect-timeout = 2\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 20)
    }
}
