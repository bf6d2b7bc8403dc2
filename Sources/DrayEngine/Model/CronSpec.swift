import Foundation

/// When a schedule's ticks fall: five fields as crontab writes them (minute, hour, day of
/// month, month, day of week, with `*`, lists, ranges, steps and names), one of `@yearly`,
/// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, or `@every DURATION`
/// (`30s`, `5m`, `1h30m`).
///
/// Fields are read in a time zone, as cron reads them in the host's: a time that a change to
/// daylight saving time skips runs when the clock has jumped past it, and one that a change
/// back repeats runs once.
public struct CronSpec: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let kind: Kind

    enum Kind: Sendable, Equatable {
        case fields(
            minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>,
            anyDay: Bool, anyWeekday: Bool)
        /// Every `seconds`, from the schedule's start.
        case every(seconds: Int)
    }

    /// Reads a spec; a mistake is a message that says which field and why.
    public init(_ text: String) throws(DrayError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        description = trimmed
        let named = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        if let expanded = named[trimmed.lowercased()] {
            kind = try Self.fields(expanded, original: trimmed)
        } else if trimmed.lowercased().hasPrefix("@every ") {
            let duration = trimmed.dropFirst("@every ".count).trimmingCharacters(in: .whitespaces)
            guard let seconds = Self.seconds(duration), seconds >= 1, seconds <= 366 * 86400 else {
                throw DrayError(
                    .invalidJob,
                    "cron \"@every \(duration)\" needs a duration from 1s to 366 days, such as 30s, 5m or 1h30m")
            }
            kind = .every(seconds: seconds)
        } else {
            kind = try Self.fields(trimmed, original: trimmed)
        }
    }

    /// `1h30m`, `45s`, `2d`: whole seconds, from 1 to a year's, or nil.
    public static func seconds(_ text: String) -> Int? {
        var total = 0
        var number = ""
        for character in text {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            let unit: Int
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return nil
            }
            guard let value = Int(number), number.count <= 9 else { return nil }
            total += value * unit
            // Past a year, it is refused anyway: never add up to an overflow.
            guard total <= 366 * 86400 else { return nil }
            number = ""
        }
        return number.isEmpty && total > 0 ? total : nil
    }

    private static let fieldNames = ["minute", "hour", "day of month", "month", "day of week"]
    private static let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
    private static let monthNames = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    private static func fields(_ text: String, original: String) throws(DrayError) -> Kind {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw DrayError(
                .invalidJob,
                "cron \"\(original.prefix(100))\" must have five fields (minute hour day-of-month month day-of-week), or be @hourly, @daily, @weekly, @monthly, @yearly or @every 30s"
            )
        }
        var sets: [Set<Int>] = []
        for (index, part) in parts.enumerated() {
            sets.append(try values(part, field: index, original: original))
        }
        // Day of week 7 is Sunday, as 0 is.
        if sets[4].contains(7) { sets[4].insert(0) }
        return .fields(
            minutes: sets[0], hours: sets[1], days: sets[2], months: sets[3], weekdays: sets[4],
            anyDay: parts[2].hasPrefix("*"), anyWeekday: parts[4].hasPrefix("*"))
    }

    private static func values(_ part: String, field: Int, original: String) throws(DrayError) -> Set<Int> {
        let range = ranges[field]
        func problem(_ why: String) -> DrayError {
            DrayError(
                .invalidJob,
                "cron \"\(original.prefix(100))\": the \(fieldNames[field]) field \"\(part.prefix(50))\" \(why)")
        }
        func number(_ text: Substring) throws(DrayError) -> Int {
            let lower = text.lowercased()
            if field == 3, let index = monthNames.firstIndex(of: lower) { return index + 1 }
            if field == 4, let index = dayNames.firstIndex(of: lower) { return index }
            guard let value = Int(text), range.contains(value) else {
                throw problem("must hold numbers from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        var result: Set<Int> = []
        for item in part.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else {
                throw problem("is not a list of values, ranges and steps")
            }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value >= 1 else {
                    throw problem("has a step that is not a whole number from 1")
                }
                step = value
            }
            var low: Int
            var high: Int
            if pieces[0] == "*" {
                (low, high) = (range.lowerBound, field == 4 ? 6 : range.upperBound)
            } else if let dash = pieces[0].firstIndex(of: "-") {
                low = try number(pieces[0][..<dash])
                high = try number(pieces[0][pieces[0].index(after: dash)...])
                guard low <= high else { throw problem("has a range that runs backwards") }
            } else {
                low = try number(pieces[0])
                high = pieces.count == 2 ? (field == 4 ? 6 : range.upperBound) : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    /// The first tick strictly after `date`, reading the fields in `timeZone`; `start` anchors
    /// `@every`. Nil only when no tick falls in the next five years (`0 0 30 2 *`).
    public func next(after date: Date, in timeZone: TimeZone, start: Date) -> Date? {
        switch kind {
        case .every(let seconds):
            let elapsed = date.timeIntervalSince(start)
            let count = elapsed < 0 ? 0 : (elapsed / Double(seconds)).rounded(.down) + 1
            return start.addingTimeInterval(count * Double(seconds))
        case .fields(let minutes, let hours, let days, let months, let weekdays, let anyDay, let anyWeekday):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            var day = calendar.startOfDay(for: date)
            let sortedHours = hours.sorted()
            let sortedMinutes = minutes.sorted()
            for _ in 0..<(5 * 366) {
                let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
                let weekday = parts.weekday! - 1
                // As cron: when both day fields are restricted, either may match.
                let dayMatches =
                    anyDay && anyWeekday
                    ? true
                    : anyDay
                        ? weekdays.contains(weekday)
                        : anyWeekday
                            ? days.contains(parts.day!) : days.contains(parts.day!) || weekdays.contains(weekday)
                if months.contains(parts.month!), dayMatches {
                    var best: Date?
                    // Only the hours that can hold the first tick: on `date`'s own day from an
                    // hour before its own (a daylight saving change moves a time by an hour), on a
                    // later day the first two (the first may be one the clock skips).
                    let hourNow = calendar.component(.hour, from: date)
                    let hours =
                        day <= date ? sortedHours.filter { $0 >= hourNow - 1 } : Array(sortedHours.prefix(2))
                    for hour in hours {
                        for minute in sortedMinutes {
                            let components = DateComponents(
                                year: parts.year, month: parts.month, day: parts.day, hour: hour, minute: minute)
                            // A time the clock skips is taken as the time it jumps to; a repeated
                            // one as its first occurrence.
                            guard let tick = calendar.date(from: components), tick > date else { continue }
                            if best == nil || tick < best! { best = tick }
                        }
                    }
                    if let best { return best }
                }
                guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
                day = calendar.startOfDay(for: following)
            }
            return nil
        }
    }
}
