extension LegacyRecognizer {
    /// OpenSMTPD (6.x bounce templates in smtpd(8): "This is the MAILER-DAEMON, please DO NOT
    /// REPLY to this email.", one `address: reply` line per recipient, "Below is a copy of the
    /// original message:"). Its delivery-status part sits in a multipart/mixed and carries no
    /// Diagnostic-Code or Remote-MTA: this text fills them.
    static let openSMTPD = LegacyRecognizer(
        family: "opensmtpd",
        any: [.body("this is the mailer-daemon, please do not reply to this email")],
        start: [
            "an error has occurred while attempting to deliver a message for",
            "a message is delayed for more than", "your message was relayed to these recipients",
            "your message was successfully delivered to these recipients",
        ],
        end: ["below is a copy of the original message", "please note that this is only a temporary failure report"],
        delayed: ["a message is delayed for more than"],
        delivered: [
            "your message was relayed to these recipients",
            "your message was successfully delivered to these recipients",
        ]
    )
}
