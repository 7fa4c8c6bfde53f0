extension LegacyRecognizer {
    /// Courier MTA (its DSN templates in /etc/courier: dsnheader.txt "This is a delivery status
    /// notification from …, running the Courier mail server", dsnfailed.txt "UNDELIVERABLE MAIL …
    /// cannot be delivered", dsndelayed.txt "DELAYS IN DELIVERING YOUR MESSAGE … advisory notice
    /// only", dsnrelayed.txt "MESSAGE DELIVERED TO A MAIL GATEWAY", dsndelivered.txt "MESSAGE
    /// DELIVERED SUCCESSFULLY", dsnfooter.txt "If your message was also sent to additional
    /// recipients"; Subjects "WARNING: delayed mail." and "NOTICE: mail delivery status.").
    static let courier = LegacyRecognizer(
        family: "courier",
        any: [.body("running the courier mail server"), .subject("notice: mail delivery status")],
        start: [
            "following recipients cannot be delivered", "undeliverable mail", "delays in delivering your message",
            "message delivered to a mail gateway", "message delivered successfully", "delayed mail",
        ],
        end: [
            "--- original message follows", "content-type: message/rfc822",
            "if your message was also sent to additional recipients",
            "the original message follows as a separate attachment",
        ],
        delayed: [
            "delays in delivering your message", "this is an advisory notice only", "has not been delivered yet",
            "will continue attempting", "additional attempts to deliver your message will be made",
        ],
        delivered: ["message delivered successfully", "message delivered to a mail gateway"]
    )
}
