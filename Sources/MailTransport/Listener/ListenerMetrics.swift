import CoreMetrics
import SMTPCore

/// The listener's own counters, through swift-metrics' global factory: nothing happens unless
/// the process bootstraps one (`roundtrip monitor` exports them with its metrics).
///
/// - `roundtrip_listener_sessions_total`: SMTP sessions admitted;
/// - `roundtrip_listener_messages_total`: messages stored (and answered 250);
/// - `roundtrip_listener_refusals_total{code,status}`: every 4xx/5xx reply, by reply code and
///   enhanced status code (the reason: 5.1.1 not a report address, 5.7.1 relaying, 4.3.1 low on
///   disk, 4.7.0 too many connections, ...; "none" when the reply has none).
public enum ListenerMetrics {
    public static let sessions = "roundtrip_listener_sessions_total"
    public static let messages = "roundtrip_listener_messages_total"
    public static let refusals = "roundtrip_listener_refusals_total"

    /// A refusal's labels, or nil for a reply that is not one. Bounded: the listener's replies
    /// come from its own session machine, never from the peer.
    public static func refusalLabels(_ reply: SMTPReply) -> [(String, String)]? {
        guard reply.code >= 400 else { return nil }
        return [("code", String(reply.code)), ("status", reply.enhancedCode?.description ?? "none")]
    }

    static func sessionAdmitted() { Counter(label: sessions).increment() }

    static func messageStored() { Counter(label: messages).increment() }

    static func replied(_ reply: SMTPReply) {
        guard let labels = refusalLabels(reply) else { return }
        Counter(label: refusals, dimensions: labels).increment()
    }
}
