import Testing
@testable import Roundtrip

@Suite struct LedgerTests {
    @Test func placeholder() {}
}
