extension LegacyRecognizer {
    /// Outlook.com / Hotmail / Live / MSN (consumer) text NDRs, same wording as Exchange Online.
    static let outlook = LegacyRecognizer(
        family: "outlook",
        all: [.from("postmaster@")],
        any: [.from("hotmail."), .from("outlook."), .from("live."), .from("msn.com")],
        start: ["delivery has failed to these recipients or groups", "couldn't be delivered", "wasn't delivered to"],
        end: ["original message headers:", "content-type: message/rfc822"],
        delayed: ["delivery is delayed to these recipients or groups"]
    )
}
