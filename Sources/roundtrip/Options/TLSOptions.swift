import ArgumentParser
import MailTransport

/// How to use and judge TLS: shared by `check`, `verify`, `send` (through `ConnectionOptions`)
/// and `poll`.
struct TLSOptions: ParsableArguments {
    @Option(help: "STARTTLS (POP3: STLS) use: auto (upgrade when offered), require, never.")
    var starttls: STARTTLSMode = .auto

    @Option(
        name: .customLong("tls-verify"),
        help:
            "Certificate verification: auto (a warning on port-25 relay checks, a failure for submission and whenever a password is sent), strict, off (the certificate is only reported)."
    )
    var tlsVerify: TLSVerifyMode = .auto

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp("PEM file with the CA certificates to trust instead of the system store.", valueName: "file")
    )
    var caFile: String?

    @Flag(
        name: .customLong("allow-plaintext-auth"),
        help: "Allow the password over a connection without TLS (test servers on loopback only).")
    var allowPlaintextAuth = false

    init() {}

    func policy(transport: TLSTransport) -> TLSPolicy {
        TLSPolicy(transport: transport, starttls: starttls, verify: tlsVerify, caFile: caFile)
    }
}

extension STARTTLSMode: ExpressibleByArgument {}
extension TLSTransport: ExpressibleByArgument {}
extension TLSVerifyMode: ExpressibleByArgument {}
