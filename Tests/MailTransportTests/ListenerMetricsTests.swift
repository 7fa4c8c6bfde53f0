import SMTPCore
import Testing

@testable import MailTransport

@Suite struct ListenerMetricsTests {
    @Test func refusalsAreLabelledByCodeAndEnhancedStatus() {
        #expect(ListenerMetrics.refusalLabels(SMTPReply(code: 250, lines: ["2.0.0 Ok"])) == nil)
        #expect(ListenerMetrics.refusalLabels(SMTPReply(code: 354, lines: ["go ahead"])) == nil)
        let unknown = ListenerMetrics.refusalLabels(SMTPReply(code: 550, lines: ["5.1.1 <x@y>: not a report address"]))
        #expect(unknown?.map(\.0) == ["code", "status"])
        #expect(unknown?.map(\.1) == ["550", "5.1.1"])
        #expect(
            ListenerMetrics.refusalLabels(SMTPReply(code: 421, lines: ["4.7.0 mx Error: too many connections"]))?.map(
                \.1) == ["421", "4.7.0"])
        #expect(
            ListenerMetrics.refusalLabels(SMTPReply(code: 500, lines: ["syntax error"]))?.map(\.1) == ["500", "none"])
    }
}
