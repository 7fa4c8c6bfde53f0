import ArgumentParser

/// Minimal root for the `reports` branch. On merge, the root command from main is kept and
/// `ParseCommand.self` is added to its subcommand list.
@main
struct Roundtrip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roundtrip",
        abstract: "Verify mail round trips.",
        subcommands: [ParseCommand.self]
    )
}
