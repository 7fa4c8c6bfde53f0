extension LegacyRecognizer {
    /// Postfix bounce(8) without a delivery-status part ("This is the mail system at host …").
    static let postfix = LegacyRecognizer(
        family: "postfix",
        any: [.body("this is the mail system at host"), .body("this is the postfix program"),
              .subject("undelivered mail returned to sender"), .subject("delayed mail (still being retried)")],
        start: ["the mail system", "could not be delivered to one or more destinations"],
        end: ["reporting-mta:", "-- original message", "undelivered message attached"],
        delayed: ["could not be delivered for more than"]
    )
}
