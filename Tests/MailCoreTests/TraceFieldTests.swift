import MailCore
import Testing

@Suite struct AuthenticationResultsTests {
    @Test func rfc8601Example() throws {
        // RFC 8601 Appendix B.4 (SPF and Sender ID), B.6 (DKIM with header.d/header.s), folded and commented.
        let a = try #require(
            AuthenticationResults(
                parsing:
                    "example.com; spf=pass smtp.mailfrom=example.net (sender is authorized) ; dkim=pass (good signature) header.d=mail-router.example.net header.s=sel1; dkim=fail (bad signature) header.d=newyork.example.com header.i=@newyork.example.com"
            ))
        #expect(a.authservID == "example.com")
        #expect(a.results.count == 3)
        #expect(a.results[0] == .init(method: "spf", result: "pass", properties: ["smtp.mailfrom": "example.net"]))
        #expect(a.results(for: "DKIM").map(\.result) == ["pass", "fail"])
        #expect(a.results[1].properties["header.s"] == "sel1")
        #expect(a.identifies("EXAMPLE.com"))
    }

    @Test func noneVersionReasonAndQuoting() throws {
        let none = try #require(AuthenticationResults(parsing: "mx.example.org 1; none"))
        #expect(none.authservID == "mx.example.org" && none.results.isEmpty)
        let q = try #require(
            AuthenticationResults(
                parsing:
                    "mx.example.org; dmarc=fail reason=\"p=reject; alignment\" header.from=\"ex\\\"ample.org\"; arc/1=none"
            ))
        #expect(q.results[0].result == "fail")
        #expect(q.results[0].reason == "p=reject; alignment")
        #expect(q.results[0].properties["header.from"] == "ex\"ample.org")
        #expect(q.results[1].method == "arc" && q.results[1].result == "none")
    }

    @Test func hostileInputNeverCrashes() {
        for s in [
            "", ";", "(", "((((", "a; =", "a; dkim", "a; dkim=", "a; dkim=pass header.d", "\"", "a;\"x",
            "a (unclosed; spf=pass", String(repeating: "(", count: 10000),
            "a; " + String(repeating: "x=y ", count: 5000),
        ] {
            _ = AuthenticationResults(parsing: s)
        }
        #expect(AuthenticationResults(parsing: "") == nil)
        #expect(AuthenticationResults(parsing: "; spf=pass") == nil)
    }

    @Test func summaryTrustsOnlyTheTopmostIDByDefault() throws {
        let fields = [
            "mx.rt.test; dkim=pass header.d=rt.test header.s=sel; spf=pass smtp.mailfrom=rt.test",
            "mx.rt.test; dmarc=pass header.from=rt.test",
            "evil.example; dkim=pass header.d=bank.example; dmarc=pass",
        ]
        let s = try #require(AuthenticationSummary.from(fields))
        #expect(s.authservID == "mx.rt.test")
        #expect(s.dkim == [.init(result: "pass", domain: "rt.test", selector: "sel")])
        #expect(s.spf == "pass" && s.dmarc == "pass" && s.arc == nil)
        #expect(!s.hasFailure)
        // Trusting another id reads only its fields; an id nobody used gives nothing.
        let other = try #require(AuthenticationSummary.from(fields, trusted: "EVIL.example"))
        #expect(other.dkim.map(\.domain) == ["bank.example"])
        #expect(AuthenticationSummary.from(fields, trusted: "nobody.example") == nil)
        #expect(AuthenticationSummary.from([]) == nil)
    }

    @Test func failuresAndIdentityFallback() throws {
        let s = try #require(AuthenticationSummary.from(["mx; dkim=fail header.i=@sub.rt.test; dmarc=fail"]))
        #expect(s.dkim[0].domain == "sub.rt.test")
        #expect(s.hasFailure)
        #expect(try #require(AuthenticationSummary.from(["mx; dkim=neutral; dmarc=none"])).hasFailure == false)
    }
}

@Suite struct ReceivedFieldTests {
    @Test func postfixWithTLS() throws {
        let r = ReceivedField(
            parsing:
                "from client.rt.test (localhost [127.0.0.1]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256) (No client certificate requested) by mx.rt.test (Postfix) with ESMTPS id 4ABC for <alice@rt.test>; Fri, 4 Dec 2026 10:00:01 +0000 (UTC)"
        )
        #expect(r.from == "client.rt.test")
        #expect(r.by == "mx.rt.test")
        #expect(r.with == "ESMTPS")
        #expect(r.tls)
        #expect(r.date?.secondsSince1970 == 1_796_378_401)
    }

    @Test func plainAndOtherNotes() {
        let plain = ReceivedField(
            parsing:
                "from a.example (a.example [192.0.2.1]) by mx.rt.test (Postfix) with ESMTP id X; Fri, 4 Dec 2026 10:00:01 +0000"
        )
        #expect(plain.with == "ESMTP" && !plain.tls)
        let exim = ReceivedField(
            parsing:
                "from [127.0.0.1] (helo=a) by b.example with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) id 1; Fri, 4 Dec 2026 10:00:01 +0000"
        )
        #expect(exim.with == "ESMTPS" && exim.tls)
        let lmtp = ReceivedField(parsing: "from mx by imap (Dovecot) with LMTP id Y")
        #expect(lmtp.with == "LMTP" && !lmtp.tls && lmtp.date == nil)
        let ms = ReceivedField(
            parsing:
                "from A.outlook.com (2603:10a6::1) by B.outlook.com (2603:10a6::2) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20; Fri, 4 Dec 2026 10:00:01 +0000"
        )
        #expect(ms.tls && ms.by == "B.outlook.com")
    }

    @Test func hostileInputNeverCrashes() {
        for s in ["", ";", "(((", ")))", "from", "by", "with", "; not a date", String(repeating: "(", count: 9000)] {
            _ = ReceivedField(parsing: s)
        }
        #expect(ReceivedField.chain(Array(repeating: "from a by b", count: 500)).count == 100)
    }
}
