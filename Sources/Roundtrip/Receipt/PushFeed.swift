import Foundation
import NIOConcurrencyHelpers

/// A feed that others push messages into: the demo's listener, tests.
public final class PushFeed: ReportFeed {
    public let name: String
    private let stream = AsyncStream<ReceivedMessage>.makeStream(bufferingPolicy: .unbounded)
    private let handledSources = NIOLockedValueBox<[String]>([])

    public init(name: String) {
        self.name = name
    }

    public func push(_ m: ReceivedMessage) {
        stream.continuation.yield(m)
    }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        for await m in stream.stream {
            if Task.isCancelled { break }
            await deliver(m)
        }
    }

    public func markHandled(_ sources: [String]) async {
        handledSources.withLockedValue { $0 += sources }
    }

    public var handled: [String] { handledSources.withLockedValue { $0 } }
}
