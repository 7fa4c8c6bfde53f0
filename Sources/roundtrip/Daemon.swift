import ArgumentParser
import Foundation
import Logging
import MailTransport
import ServiceLifecycle

/// What the long-running commands (`listen`, `simulate`) share: logging to
/// stderr at the -v level, and running one service until SIGTERM/SIGINT with
/// the sysexits-style exit codes of `ListenExitCode`.
enum Daemon {
    static func bootstrapLogging(verbose: Int) {
        let level: Logger.Level = verbose >= 2 ? .trace : verbose == 1 ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    static func run(_ name: String, logger: Logger, makeService: () throws -> any Service) async throws {
        do {
            let service = try makeService()
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch let error as SMTPListenerError {
            FileHandle.standardError.write(Data("roundtrip \(name): \(error)\n".utf8))
            throw ExitCode(error.kind == .bind ? ListenExitCode.cannotBind : ListenExitCode.configuration)
        } catch let error as ServiceGroupError {
            FileHandle.standardError.write(Data("roundtrip \(name): \(error)\n".utf8))
            throw ExitCode(ListenExitCode.software)
        }
    }
}
