import ArgumentParser
import Foundation

@main
struct RoundtripCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roundtrip",
        abstract: "Prove that mail flows both ways: SMTP dialog checks and delivery-report round trips.",
        discussion: """
            Every subcommand lists its exit codes in its --help; all of them are in README.md ("Exit codes"). 1 means "failed", 64 a usage error, 70 an internal error, 78 a configuration problem.
            """,
        version: RoundtripVersion.versionLine,
        subcommands: [
            CheckCommand.self, VerifyCommand.self, SendCommand.self, StatusCommand.self, ListenCommand.self,
            PollCommand.self, ParseCommand.self, SimulateCommand.self, DemoCommand.self, MonitorCommand.self,
        ]
    )

    /// Reads the config file (`--config FILE` or the default location) into
    /// arguments before parsing; flags on the command line win.
    static func main() async {
        let arguments: [String]
        do {
            arguments = try ConfigFile.apply(
                to: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("roundtrip: \(error)\n".utf8))
            Foundation.exit(ExitStatus.configuration.rawValue)
        }
        await dispatch(arguments)
    }

    /// ArgumentParser's `main(_:)`, except that an error it does not know ends with 70 (internal
    /// error), never its 1: here 1 means "failed". The subcommands map their own errors
    /// (`RoundtripSubcommand`); this catches what escapes them, e.g. from `validate()`.
    static func dispatch(_ arguments: [String]) async {
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if !(error is ExitCode), exitCode(for: error) == .failure {
                FileHandle.standardError.write(Data("roundtrip: internal error: \(error)\n".utf8))
                Foundation.exit(ExitStatus.software.rawValue)
            }
            exit(withError: error)
        }
    }
}

enum RoundtripVersion {
    static let current = "0.1.0"
}
