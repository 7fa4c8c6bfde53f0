import Foundation

/// A message that arrived where reports come back.
public struct ReceivedMessage: Sendable {
    /// Where it came from: "listener:<path>", "maildir:<path>", "imap://...;UID=n", ...
    public var source: String
    public var bytes: [UInt8]
    /// The envelope recipients, when the message came to our own listener.
    public var envelopeRecipients: [String]
    public var receivedAt: Date

    public init(source: String, bytes: [UInt8], envelopeRecipients: [String] = [], receivedAt: Date = Date()) {
        self.source = source
        self.bytes = bytes
        self.envelopeRecipients = envelopeRecipients
        self.receivedAt = receivedAt
    }
}

/// Somewhere reports come back to: our listener, a mailbox, a Maildir.
public protocol ReportFeed: Sendable {
    /// A short description for the transcript ("Maildir /var/mail/x").
    var name: String { get }
    /// Delivers messages to `deliver` until the task is cancelled. Messages
    /// already there when the run starts are delivered too (a fast report
    /// can beat the end of the submission).
    func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws
    /// Marks messages as handled (only ones the run correlated).
    func markHandled(_ sources: [String]) async
    /// Returns once the feed can receive (a listener is bound), or throws
    /// why it cannot. The probe is sent only after every feed is ready.
    func waitUntilReady() async throws
}

extension ReportFeed {
    public func waitUntilReady() async throws {}
}
