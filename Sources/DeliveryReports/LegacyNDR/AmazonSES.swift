extension LegacyRecognizer {
    /// Amazon SES notifications delivered by SNS (JSON body).
    static let amazonSES = LegacyRecognizer(
        family: "amazonses",
        any: [
            .from("amazonaws.com"), .body("\"notificationtype\":\"bounce\""),
            .body("\"notificationtype\":\"delivery\""),
        ],
        start: ["\"bouncedrecipients\"", "\"complainedrecipients\"", "\"delivery\":{"],
        end: ["\"mail\":{", "\"commonheaders\""],
        delayed: ["\"bouncetype\":\"transient\""],
        delivered: ["\"notificationtype\":\"delivery\""],
        recipients: .immediatelyAfter(["\"emailaddress\":\""])
    )
}
