extension LegacyRecognizer {
    /// Postfix bounce(8) without a delivery-status part ("This is the mail system at host …"); its
    /// built-in templates (bounce(8) strings): "Undelivered Mail Returned to Sender", "Delayed Mail
    /// (still being retried)", "Successful Mail Delivery Report" ("Your message was successfully
    /// delivered to the destination(s) listed below").
    static let postfix = LegacyRecognizer(
        family: "postfix",
        any: [
            .body("this is the mail system at host"), .body("this is the postfix program"),
            .subject("undelivered mail returned to sender"), .subject("delayed mail (still being retried)"),
            .subject("successful mail delivery report"),
        ],
        start: ["the mail system", "could not be delivered to one or more destinations"],
        end: ["reporting-mta:", "-- original message", "undelivered message attached"],
        delayed: ["could not be delivered for more than"],
        delivered: ["your message was successfully delivered to the destination"]
    )
}
