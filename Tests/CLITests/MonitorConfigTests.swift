import Foundation
import Roundtrip
import Testing

@testable import roundtrip

/// `[[monitor.route]]` tables become verify's configuration through verify's own parser.
@Suite struct MonitorConfigTests {
    func load(_ toml: String) async throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rt-monitor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        let routes = try MonitorRoutes.load(
            path: path, key: try Ledger.loadOrCreateKey(directory: dir), ledger: try Ledger.inMemory())
        return routes.map {
            "\($0.name) \($0.schedule.interval) \($0.schedule.jitter) \($0.verify.builder.recipients.map(\.description)) \($0.verify.server?.display ?? "mx") \($0.verify.deadline) \($0.verify.strict)"
        }
    }

    func problem(_ toml: String) async -> String? {
        do {
            _ = try await load(toml)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func routesTakeVerifysOptionNames() async throws {
        let routes = try await load(
            """
            [monitor]
            listen = "0.0.0.0:25"

            [[monitor.route]]
            name = "gmail"
            to = ["a@example.org", "b@example.org"]
            from = "rt@bounce.example.net"
            server = "smtp.example.net:587"
            interval = "5m"
            jitter = "30s"
            deadline = "10m"
            strict = true

            [[monitor.route]]
            name = "m365.eu_1"
            to = "c@example.com"
            from = "rt@bounce.example.net"
            interval = "90s"
            """)
        #expect(
            routes == [
                "gmail 300.0 30.0 [\"a@example.org\", \"b@example.org\"] smtp.example.net:587 600.0 seconds true",
                "m365.eu_1 90.0 0.0 [\"c@example.com\"] mx 600.0 seconds false",
            ])
    }

    @Test func problemsAreNamed() async throws {
        let base = "[[monitor.route]]\nto = \"a@example.org\"\nfrom = \"rt@b.example\"\n"
        #expect(await problem("[monitor]\n")?.contains("no [[monitor.route]]") == true)
        #expect(await problem(base + "interval = \"5m\"")?.contains("give it a name") == true)
        #expect(await problem(base + "name = \"x\"")?.contains("give it an interval") == true)
        #expect(await problem(base + "name = \"x<y\"\ninterval = \"5m\"")?.contains("must be 1-64 letters") == true)
        #expect(await problem(base + "name = \"x\"\ninterval = \"soon\"")?.contains("must be a duration") == true)
        #expect(
            await problem(base + "name = \"x\"\ninterval = \"500ms\"")?.contains("interval must be at least 1 s")
                == true)
        #expect(await problem(base + "name = \"x\"\ninterval = \"1m\"\njitter = \"2m\"")?.contains("jitter") == true)
        #expect(
            await problem(base + "name = \"x\"\ninterval = \"1m\"\nlisten = \"0.0.0.0:25\"")?.contains(
                "belongs in the [monitor] table") == true)
        #expect(await problem(base + "name = \"x\"\ninterval = \"1m\"\nbogus = 1")?.contains("route x") == true)
        #expect(
            await problem(base + "name = \"x\"\ninterval = \"1m\"\npassword = \"s3cret\"")?.contains(
                "secrets are not read") == true)
        #expect(
            await problem(base + "name = \"x\"\ninterval = \"1m\"\n" + base + "name = \"x\"\ninterval = \"1m\"")?
                .contains("two routes are named x") == true)
        #expect(await problem("[monitor]\nroute = \"x\"")?.contains("array of tables") == true)
    }

    @Test func theMonitorSectionBecomesOptionsButNotItsRoutes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rt-monitor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.toml"
        try """
        [monitor]
        metrics = "127.0.0.1:9999"
        retention = "7d"

        [[monitor.route]]
        name = "a"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let args = try ConfigFile.apply(to: ["monitor", "--config", path], environment: [:])
        #expect(args == ["monitor", "--config", path, "--metrics", "127.0.0.1:9999", "--retention", "7d"])
        let command = try #require(try RoundtripCommand.parseAsRoot(args) as? MonitorCommand)
        #expect(command.metrics == BindArgument(host: "127.0.0.1", port: 9999))
        #expect(command.retention.seconds == 7 * 86400)
        #expect(command.config == path)
    }
}
