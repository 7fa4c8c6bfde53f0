/// The rule at the STARTTLS switch, shared by the SMTP, IMAP and POP3
/// clients (the class of attacks in "Why TCP Is Not Enough: STARTTLS
/// response injection", USENIX Security 2021): when the client is about to
/// send STARTTLS/STLS, nothing may be waiting from the server. A response
/// already received and not consumed, or any byte of one, can only be an
/// answer to a command not yet sent: a man in the middle queueing forged
/// answers to be read after the handshake. The client refuses the session
/// at the TLS step instead of switching with them in its queue.
enum STARTTLSGuard {
    /// Nil when the queue and the buffer are empty; else why the switch is refused.
    static func violation(queuedResponses: Int, bufferedOctets: Int) -> String? {
        guard queuedResponses > 0 || bufferedOctets > 0 else { return nil }
        var parts: [String] = []
        if queuedResponses > 0 { parts.append("\(queuedResponses) response(s)") }
        if bufferedOctets > 0 { parts.append("\(bufferedOctets) octet(s)") }
        return "the server sent \(parts.joined(separator: " and ")) nobody asked for before STARTTLS "
            + "(STARTTLS response injection?); refusing to switch to TLS"
    }
}
