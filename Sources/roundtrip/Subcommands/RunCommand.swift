import ArgumentParser
import Foundation
import MailTransport
import Roundtrip
import RoundtripCore

/// What verify, send and status share: errors → exit codes, output, logging.
enum RunCommand {
    /// The errors a run expects: a transport failure is "could not submit" (4) unless it is
    /// configuration (78); a probe that cannot be built is usage (64); a feed or the ledger
    /// that cannot be used is configuration (78).
    static func status(for error: any Error) -> ExitStatus? {
        switch error {
        case let e as TransportError: return e.kind == .configuration ? .configuration : .notSubmitted
        case is ProbeBuilder.BuildError: return .usage
        case is FeedError, is LedgerError: return .configuration
        default: return nil
        }
    }

    static let showProgress: @Sendable (VerifyProgress) -> Void = { p in
        let arrived = p.arrived > 0 ? ", \(p.arrived) arrived" : ""
        let line = "\rwaiting for \(p.waitingFor) of \(p.total) report(s)\(arrived), \(Int(p.secondsLeft)) s left "
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func logger(verbose: Bool) -> @Sendable (String) -> Void {
        { line in if verbose { FileHandle.standardError.write(Data("* \(line)\n".utf8)) } }
    }

    static func printTranscripts(_ groups: [SubmissionGroup]) {
        for g in groups {
            for a in g.attempts {
                FileHandle.standardError.write(Data("--- \(a.route.target.display)\n".utf8))
                for e in a.report.transcript {
                    FileHandle.standardError.write(Data("\(CheckRenderer.prefix(e.direction)) \(e.text)\n".utf8))
                }
            }
        }
    }

    /// Prints the report; returns its exit status. With nagios, the plugin status (0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 UNKNOWN) is the exit code instead: thrown as is, it is not a
    /// row of the table.
    static func output(_ report: RunReport, format: VerifyFormat) throws -> ExitStatus {
        let text: String
        switch format {
        case .text: text = RunRenderer.text(report, colour: CheckRenderer.useColour)
        case .json: text = RunRenderer.json(report)
        case .junit: text = RunRenderer.junit(report)
        case .nagios: text = RunRenderer.nagios(report)
        }
        FileHandle.standardOutput.write(Data(text.utf8))
        if format == .nagios { throw ExitCode((RunExitStatus(rawValue: report.exitCode) ?? .internalError).nagios) }
        return ExitStatus(runCode: report.exitCode)
    }
}
