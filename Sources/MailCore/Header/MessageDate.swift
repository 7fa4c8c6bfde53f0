/// An RFC 5322 date-time, kept as seconds since 1970 plus the written zone.
///
///     date-time = [ day-of-week "," ] day month year hour ":" minute [ ":" second ] zone
///     zone      = ( "+" / "-" ) 4DIGIT / obs-zone
///
/// Obsolete zones (UT, GMT, EST…PDT) are accepted; military letters and `-0000` mean "zone
/// unknown" (`zoneOffsetMinutes == nil`, time taken as UTC). Two-digit years: 00–49 → 20xx,
/// 50–99 → 19xx. A trailing comment such as `(JST)` is ignored.
/// - SeeAlso: RFC 5322 §3.3, §4.3.
public struct MessageDate: Sendable, Hashable, Comparable {
    public var secondsSince1970: Int64
    public var zoneOffsetMinutes: Int?

    public init(secondsSince1970: Int64, zoneOffsetMinutes: Int?) {
        self.secondsSince1970 = secondsSince1970
        self.zoneOffsetMinutes = zoneOffsetMinutes
    }

    public static func < (a: MessageDate, b: MessageDate) -> Bool { a.secondsSince1970 < b.secondsSince1970 }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let zones: [String: Int] = [
        "ut": 0, "utc": 0, "gmt": 0, "z": 0,
        "est": -300, "edt": -240, "cst": -360, "cdt": -300,
        "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
    ]

    public init?(_ text: String) {
        // Drop comments, split on blanks and commas.
        var cleaned: [UInt8] = []
        var depth = 0
        for c in text.utf8 {
            if c == ASCII.openParen {
                depth += 1
                continue
            }
            if c == ASCII.closeParen {
                if depth > 0 { depth -= 1 }
                continue
            }
            if depth > 0 { continue }
            cleaned.append(c == 0x2C ? ASCII.space : c)
        }
        var tokens = cleaned.split(whereSeparator: { $0.isWhitespace }).map { String(decoding: $0, as: UTF8.self) }
        guard !tokens.isEmpty else { return nil }
        if let first = tokens.first, first.count >= 3, first.utf8.first.map({ $0.isAlpha }) == true,
            MessageDate.months.firstIndex(of: String(first.asciiLowercased.prefix(3))) == nil
        {
            tokens.removeFirst()  // day of week
        }
        guard tokens.count >= 4 else { return nil }
        var day: Int
        var monthIndex: Int
        if let d = Int(tokens[0]),
            let m = MessageDate.months.firstIndex(of: String(tokens[1].asciiLowercased.prefix(3)))
        {
            day = d
            monthIndex = m
        } else if let m = MessageDate.months.firstIndex(of: String(tokens[0].asciiLowercased.prefix(3))),
            let d = Int(tokens[1])
        {
            // asctime-like "Mar 4 10:12:07 2025": reorder when the year comes after the time
            day = d
            monthIndex = m
            if tokens.count >= 4, tokens[2].contains(":"), Int(tokens[3]) != nil {
                tokens.swapAt(2, 3)
            }
        } else {
            return nil
        }
        guard var year = Int(tokens[2]) else { return nil }
        if tokens[2].count <= 2 { year += year < 50 ? 2000 : 1900 } else if tokens[2].count == 3 { year += 1900 }
        let timeParts = tokens[3].split(separator: ":").map { Int($0) }
        guard timeParts.count >= 2, let hour = timeParts[0], let minute = timeParts[1] else { return nil }
        let second = timeParts.count >= 3 ? (timeParts[2] ?? 0) : 0
        guard (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second),
            (1000...9999).contains(year)
        else { return nil }
        var offset: Int? = nil
        if tokens.count >= 5 {
            let z = tokens[4]
            let zb = Array(z.utf8)
            if zb.count == 5, zb[0] == ASCII.plus || zb[0] == ASCII.dash,
                let v = Int(String(decoding: zb[1...], as: UTF8.self))
            {
                let minutes = (v / 100) * 60 + v % 100
                if zb[0] == ASCII.dash {
                    offset = v == 0 ? nil : -minutes
                } else {
                    offset = minutes
                }
            } else if let known = MessageDate.zones[z.asciiLowercased] {
                offset = known
            } else {
                offset = nil
            }
        }
        day = min(day, 31)
        let days = MessageDate.daysFromCivil(year: year, month: monthIndex + 1, day: day)
        let local = Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second)
        secondsSince1970 = local - Int64((offset ?? 0) * 60)
        zoneOffsetMinutes = offset
    }

    /// Howard Hinnant's days-from-civil.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Formats as RFC 5322 in UTC with `+0000` and English names.
    public var rfc5322: String {
        let days = Int((secondsSince1970 >= 0 ? secondsSince1970 : secondsSince1970 - 86399) / 86400)
        let rem = Int(secondsSince1970 - Int64(days) * 86400)
        let (y, m, d) = MessageDate.civilFromDays(days)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday), \(d) \(month) \(y) \(two(rem / 3600)):\(two(rem / 60 % 60)):\(two(rem % 60)) +0000"
    }
}
