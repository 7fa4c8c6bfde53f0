import ArgumentParser
import Foundation
import Testing

@testable import roundtrip

/// Help texts: ArgumentParser wraps a discussion's paragraphs itself, so they are written
/// without hard line breaks; examples and tables (indented blocks) keep theirs and fit in 80
/// columns.
@Suite struct HelpTextTests {
    static let commands: [any ParsableCommand.Type] =
        [RoundtripCommand.self] + RoundtripCommand.configuration.subcommands

    @Test(arguments: commands.map { ObjectIdentifier($0) })
    func paragraphsHaveNoHardLineBreaks(_ id: ObjectIdentifier) throws {
        let type = try #require(Self.commands.first { ObjectIdentifier($0) == id })
        let name = type.configuration.commandName ?? "?"
        for paragraph in type.configuration.discussion.components(separatedBy: "\n\n") {
            let lines = paragraph.split(separator: "\n", omittingEmptySubsequences: false)
            // A block: a heading line ("Examples:") and indented lines, kept as written.
            let body = lines.first?.hasSuffix(":") == true ? lines.dropFirst() : lines[...]
            let indented = !body.isEmpty && body.allSatisfy { $0.hasPrefix("  ") }
            #expect(lines.count == 1 || indented, "\(name): a paragraph broken by hand: \(paragraph)")
            if indented {
                for line in body { #expect(line.count <= 78, "\(name): too wide for 80 columns: \(line)") }
            }
        }
    }

    @Test(arguments: commands.map { ObjectIdentifier($0) })
    func helpFitsIn80Columns(_ id: ObjectIdentifier) throws {
        let type = try #require(Self.commands.first { ObjectIdentifier($0) == id })
        let help =
            type == RoundtripCommand.self
            ? RoundtripCommand.helpMessage(columns: 80) : RoundtripCommand.helpMessage(for: type, columns: 80)
        // ArgumentParser writes the usage line as it likes.
        for line in help.split(separator: "\n") where !line.hasPrefix("USAGE:") {
            #expect(line.count <= 80, "\(type.configuration.commandName ?? "?"): \(line)")
        }
    }
}
