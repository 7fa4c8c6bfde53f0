import ArgumentParser
import Foundation

@main
struct RoundtripCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roundtrip",
        abstract: "Prove that mail flows both ways: SMTP dialog checks and delivery-report round trips.",
        discussion: """
        Exit codes are documented in README.md ("Exit codes").
        """,
        version: RoundtripVersion.versionLine,
        subcommands: [CheckCommand.self, VerifyCommand.self, SendCommand.self, StatusCommand.self, ListenCommand.self, PollCommand.self, ParseCommand.self, SimulateCommand.self, DemoCommand.self]
    )

    /// Reads the config file (`--config FILE` or the default location) into
    /// arguments before parsing; flags on the command line win.
    static func main() async {
        let arguments: [String]
        do {
            arguments = try ConfigFile.apply(to: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("roundtrip: \(error)\n".utf8))
            Foundation.exit(78)
        }
        await Self.main(arguments)
    }
}

enum RoundtripVersion {
    static let current = "0.1.0"
}
