import ArgumentParser

@main
struct RoundtripCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roundtrip",
        abstract: "Prove that mail flows both ways: SMTP dialog checks and delivery-report round trips.",
        discussion: """
        Exit codes are documented in README.md ("Exit codes").
        """,
        version: RoundtripVersion.current,
        subcommands: [CheckCommand.self, ListenCommand.self]
    )
}

enum RoundtripVersion {
    static let current = "0.1.0"
}
