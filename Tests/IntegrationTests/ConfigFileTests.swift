import Foundation
import Testing

/// The TOML config file, through the real binary (no services needed).
@Suite struct ConfigFileTests {
    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "roundtrip-config-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func valuesBecomeOptions() throws {
        let path = try write("[check]\nstarttls = \"sometimes\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 64, "the invalid value from the file reached the parser: \(r.stderr)")
        #expect(r.stderr.contains("sometimes"))
    }

    @Test func flagsOverrideTheFile() throws {
        let path = try write("[check]\nstarttls = \"sometimes\"\nconnect-timeout = 5\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try roundtrip(["check", "127.0.0.1:1", "--starttls", "never", "--config", path])
        #expect(r.status == 20, "\(r.stdout)\(r.stderr)")
    }

    @Test func defaultLocationFromTheEnvironment() throws {
        let path = try write("[check]\ntls-verify = \"nonsense\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try roundtrip(["check", "127.0.0.1:1"], environment: ["ROUNDTRIP_CONFIG": path])
        #expect(r.status == 64)
    }

    @Test func secretsAreRefused() throws {
        let path = try write("[check]\nauth = \"u@x\"\npassword = \"Canary-Secret-9\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("password-file"))
        #expect(!r.stderr.contains("Canary-Secret-9"))
    }

    @Test func brokenTOMLOrMissingFileIsAConfigurationError() throws {
        let path = try write("[check\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try roundtrip(["check", "127.0.0.1:1", "--config", path]).status == 78)
        #expect(try roundtrip(["check", "127.0.0.1:1", "--config", "/nonexistent/roundtrip.toml"]).status == 78)
    }

    @Test func otherSubcommandsSectionsAreIgnored() throws {
        let path = try write("[parse]\nformat = \"json\"\n[check]\nconnect-timeout = 2\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try roundtrip(["check", "127.0.0.1:1", "--config", path])
        #expect(r.status == 20)
    }
}
