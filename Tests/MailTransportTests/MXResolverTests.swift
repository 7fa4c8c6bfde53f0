import TestSupport
import Testing

@testable import MailTransport

@Suite struct MXResolverTests {
    static func zone() -> FakeDNSServer.Zone {
        var z = FakeDNSServer.Zone()
        z.mx["multi.test"] = [
            (20, "mx1.multi.test"), (10, "mx2.multi.test"), (30, "mx3.multi.test"), (10, "mx4.multi.test"),
        ]
        z.mx["nullmx.test"] = [(0, "")]
        z.a["implicit.test"] = [[127, 0, 0, 9]]
        z.a["mx1.multi.test"] = [[127, 0, 0, 1]]
        z.a["two.test"] = [[127, 0, 0, 2], [127, 0, 0, 3]]
        z.servfail = ["broken.test"]
        return z
    }

    func withResolver(_ body: (LibresolvResolver) async throws -> Void) async throws {
        try await FakeDNSServer.with(Self.zone()) { dns in
            try await body(LibresolvResolver(server: ("127.0.0.1", dns.port), timeoutSeconds: 3, attempts: 2))
        }
    }

    @Test func severalMXInPreferenceOrderTiesKeepServerOrder() async throws {
        try await withResolver { r in
            let answer = try await r.mx(for: "multi.test")
            #expect(
                answer
                    == .exchangers([
                        MXRecord(preference: 10, host: "mx2.multi.test"),
                        MXRecord(preference: 10, host: "mx4.multi.test"),
                        MXRecord(preference: 20, host: "mx1.multi.test"),
                        MXRecord(preference: 30, host: "mx3.multi.test"),
                    ]))
        }
    }

    @Test func nullMXIsReportedNotTried() async throws {
        try await withResolver { r in
            let answer = try await r.mx(for: "nullmx.test")
            #expect(answer == .nullMX)
        }
    }

    @Test func implicitMXFallsBackToAddressRecords() async throws {
        try await withResolver { r in
            let answer = try await r.mx(for: "implicit.test")
            #expect(answer == .implicit("implicit.test"))
        }
    }

    @Test func nxdomainIsAResolutionError() async throws {
        try await withResolver { r in
            await #expect(throws: TransportError.self) { try await r.mx(for: "missing.test") }
            do {
                _ = try await r.mx(for: "missing.test")
            } catch let e as TransportError {
                #expect(e.kind == .resolutionFailed)
                #expect(e.message.contains("NXDOMAIN"))
            }
        }
    }

    @Test func serverFailureSaysTryAgain() async throws {
        try await withResolver { r in
            do {
                _ = try await r.mx(for: "broken.test")
                Issue.record("expected an error")
            } catch let e as TransportError {
                #expect(e.message.contains("try again"))
            }
        }
    }

    @Test func addresses() async throws {
        try await withResolver { r in
            let two = try await r.addresses(of: "two.test")
            #expect(two == ["127.0.0.2", "127.0.0.3"])
            let literal = try await r.addresses(of: "127.0.0.1")
            #expect(literal == ["127.0.0.1"])
        }
    }

    @Test func closedDNSPortFailsFast() async throws {
        let r = LibresolvResolver(server: ("127.0.0.1", 9), timeoutSeconds: 1, attempts: 1)
        await #expect(throws: TransportError.self) { try await r.mx(for: "multi.test") }
    }

    @Test(arguments: [
        ("127.0.0.1:5353", "127.0.0.1", 5353), ("127.0.0.1", "127.0.0.1", 53), ("[::1]:5353", "::1", 5353),
        ("::1", "::1", 53),
    ])
    func dnsServerOption(text: String, host: String, port: Int) throws {
        let s = try LibresolvResolver.parseServer(text)
        #expect(s.host == host && s.port == port)
    }

    @Test func dnsServerMustBeNumeric() {
        #expect(throws: TransportError.self) { try LibresolvResolver.parseServer("dns.example:53") }
        #expect(throws: TransportError.self) { try LibresolvResolver.parseServer("127.0.0.1:99999") }
    }

    @Test(arguments: [
        ("mx.example.org", "mx.example.org", 25), ("mx.example.org:2525", "mx.example.org", 2525),
        ("[2001:db8::1]:587", "2001:db8::1", 587), ("2001:db8::1", "2001:db8::1", 25),
    ])
    func hostPort(text: String, host: String, port: Int) {
        #expect(HostPort.parse(text, defaultPort: 25) == HostPort(host: host, port: port))
    }

    @Test(arguments: ["", "host:", ":25", "host:0", "host:70000", "bad host", "a\r\nb:25", "[::1"])
    func badHostPort(text: String) {
        #expect(HostPort.parse(text, defaultPort: 25) == nil)
    }
}
