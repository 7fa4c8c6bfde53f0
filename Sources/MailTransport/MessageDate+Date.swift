import Foundation
import MailCore

extension MessageDate {
    /// `date` in UTC, to the second; `.rfc5322` writes it for Date: and Received: fields.
    init(_ date: Date) {
        self.init(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)), zoneOffsetMinutes: 0)
    }
}
