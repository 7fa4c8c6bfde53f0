extension LegacyRecognizer {
    /// Amazon SES notifications delivered by SNS (JSON body).
    static let amazonSES = LegacyRecognizer(
        family: "amazonses",
        any: [.from("amazonaws.com"), .body("\"notificationtype\":\"bounce\"")],
        start: ["\"bouncedrecipients\"", "\"complainedrecipients\""],
        end: ["\"mail\":{", "\"commonheaders\""],
        delayed: ["\"bouncetype\":\"transient\""],
        recipients: .immediatelyAfter(["\"emailaddress\":\""])
    )
}
