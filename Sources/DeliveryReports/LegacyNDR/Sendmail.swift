extension LegacyRecognizer {
    /// Sendmail ("----- The following addresses had permanent fatal errors -----").
    static let sendmail = LegacyRecognizer(
        family: "sendmail",
        any: [
            .body("----- the following addresses had"), .body("----- transcript of session follows -----"),
            .subject("returned mail:"), .subject("warning: could not send message"),
        ],
        start: ["----- the following addresses had", "----- transcript of session follows"],
        end: ["----- original message follows", "----- message header follows", "----- returned message follows"],
        delayed: ["transient non-fatal errors", "still undelivered"],
        delivered: ["had successful delivery notifications"]
    )
}
