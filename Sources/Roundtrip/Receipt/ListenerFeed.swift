import Foundation
import Logging
import MailTransport
import NIOConcurrencyHelpers
import NIOCore

/// Runs our own SMTP listener for the return domain for the length of a
/// run: reports come straight to us, and the envelope recipient (the VERP
/// address) is the strongest correlation key.
public final class ListenerFeed: ReportFeed {
    public let configuration: SMTPListenerConfiguration
    public let logger: Logger
    private let address = NIOLockedValueBox<SocketAddress?>(nil)
    private let ready = AsyncStream<Result<SocketAddress, FeedError>>.makeStream()

    public init(configuration: SMTPListenerConfiguration, logger: Logger = Logger(label: "roundtrip.verify.listener")) {
        self.configuration = configuration
        self.logger = logger
    }

    public var name: String { "listener \(configuration.host):\(configuration.port)" }

    /// The bound address once running.
    public var boundAddress: SocketAddress? { address.withLockedValue { $0 } }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        let listener: SMTPListener
        do {
            listener = try SMTPListener(
                configuration: configuration,
                logger: logger,
                onServerRunning: { [address, ready] a in
                    address.withLockedValue { $0 = a }
                    ready.continuation.yield(.success(a))
                },
                onMessage: { m in
                    guard let data = FileManager.default.contents(atPath: m.path) else { return }
                    await deliver(
                        ReceivedMessage(source: m.path, bytes: Array(data), envelopeRecipients: m.envelope.rcptTo))
                }
            )
        } catch {
            let e = FeedError(description: "the listener cannot start: \(error)")
            ready.continuation.yield(.failure(e))
            throw e
        }
        do {
            try await withTaskCancellationHandler {
                try await listener.run()
            } onCancel: {
                listener.triggerShutdown()
            }
        } catch {
            let e = FeedError(
                description: "the listener on \(configuration.host):\(configuration.port) failed: \(error)")
            ready.continuation.yield(.failure(e))
            throw e
        }
    }

    public func waitUntilReady() async throws {
        for await r in ready.stream {
            switch r {
            case .success: return
            case .failure(let e): throw e
            }
        }
    }

    public func markHandled(_ sources: [String]) async {
        _ = MaildirReader(root: configuration.storeDirectory, includeCur: true)
            .markHandled(sources: sources.filter { $0.hasPrefix(configuration.storeDirectory) })
    }
}
