import Foundation
import Logging
import MailTransport
import ServiceLifecycle

/// What the long-running commands (`listen`, `simulate`) share: logging to stderr at the -v
/// level, running one service until SIGTERM/SIGINT, and the codes of its failures.
enum Daemon {
    static func bootstrapLogging(verbose: Int) {
        let level: Logger.Level = verbose >= 2 ? .trace : verbose == 1 ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    static func run(logger: Logger, makeService: () throws -> any Service) async throws {
        let service = try makeService()
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// A listener that cannot bind is 69 (EX_UNAVAILABLE), any other listener problem 78.
    static func status(for error: any Error) -> ExitStatus? {
        guard let e = error as? SMTPListenerError else { return nil }
        return e.kind == .bind ? .unavailable : .configuration
    }
}
