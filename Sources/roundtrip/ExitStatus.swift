import ArgumentParser
import MailTransport

/// The exit codes of `roundtrip check`: one per step, so a pipeline knows
/// where the dialog broke (README, "Exit codes").
enum CheckExitCode {
    static let ok: Int32 = 0
    static let usage: Int32 = 64
    static let internalError: Int32 = 70
    static let configuration: Int32 = 78

    static func code(for step: SMTPStep) -> Int32 {
        switch step {
        case .dns: return 10
        case .connect: return 20
        case .banner: return 21
        case .ehlo: return 22
        case .tls: return 23
        case .auth: return 24
        case .mail: return 25
        case .rcpt: return 26
        case .data: return 27
        case .quit: return 28
        }
    }

    static func code(for error: TransportError) -> Int32 {
        switch error.kind {
        case .configuration: return configuration
        case .invalidInput: return usage
        default: return code(for: error.step)
        }
    }
}
