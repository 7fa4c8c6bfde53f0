extension LegacyRecognizer {
    /// The catch-all for bounces from a daemon sender that no family recogniser claimed.
    static let generic = LegacyRecognizer(
        family: "generic",
        any: [
            .from("mailer-daemon"), .from("postmaster"), .from("mail delivery"), .from("mail.delivery"),
            .from("mail administrator"), .from("post_master"), .from("mail system"),
            .subject("undeliver"), .subject("delivery fail"), .subject("delivery status"),
            .subject("returned mail"), .subject("failure notice"), .subject("delivery failure"),
            .subject("mail delivery failed"), .subject("non remis"), .subject("nondeliverable"),
            .subject("could not be delivered"), .subject("delivery notification"), .subject("undelivered"),
            .subject("non-delivery"), .body("--- non-delivery report ---"),
        ],
        delayed: []
    )
}
