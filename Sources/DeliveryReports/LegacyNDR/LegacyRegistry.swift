extension LegacyNDR {
    /// Every legacy recogniser, most specific first. The first one whose fingerprint matches and
    /// that finds a recipient wins. Add new families here (one file each in this folder).
    public static let registry: [LegacyRecognizer] = [
        .amazonSES,
        .mailingList,
        .gmail,
        .dragonfly,
        .qmail,
        .x4,
        .yahoo,
        .x2,
        .x3,
        .x6,
        .mFilter,
        .notes,
        .kddi,
        .biglobe,
        .mailFoundry,
        .mailMarshal,
        .zoho,
        .courier,
        .mDaemon,
        .openSMTPD,
        .outlook,
        .exchange,
        .groupWise,
        .sendmail,
        .postfix,
        .exim,
        .generic,
        .failureText,
    ]
}
