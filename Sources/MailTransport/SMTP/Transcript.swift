import SMTPCore

/// What was said on a connection, typed so that secrets are redacted where
/// the entry is made, not by scrubbing text afterwards.
public struct TranscriptEntry: Sendable, Hashable, Codable {
    public enum Direction: String, Sendable, Hashable, Codable {
        /// A line we sent (`C:`).
        case client
        /// A line the server sent (`S:`).
        case server
        /// A note about the connection (TLS started, octets discarded, ...).
        case info
    }

    /// Seconds since the start of the check.
    public var at: Double
    public var direction: Direction
    public var text: String

    public init(at: Double, direction: Direction, text: String) {
        self.at = at
        self.direction = direction
        self.text = text
    }
}
