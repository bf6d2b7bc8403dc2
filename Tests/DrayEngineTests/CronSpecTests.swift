import DrayEngine
import Foundation
import Testing

/// A schedule's clock: cron's five fields, its names, `@every`, and its time zones.
struct CronSpecTests {
    static let utc = TimeZone(identifier: "UTC")!

    static func date(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    @Test(
        "the next tick after a time",
        arguments: [
            ("*/15 * * * *", "2026-12-06T10:07:00Z", "2026-12-06T10:15:00Z"),
            ("0 9 * * mon-fri", "2026-12-05T10:00:00Z", "2026-12-07T09:00:00Z"),
            ("30 2 1 jan *", "2026-06-01T00:00:00Z", "2027-01-01T02:30:00Z"),
            ("0 0 13 * 5", "2026-12-06T00:00:00Z", "2026-12-11T00:00:00Z"),
            ("5,10-12 8 * * *", "2026-12-06T08:10:00Z", "2026-12-06T08:11:00Z"),
            ("0 12 * * 7", "2026-12-06T12:00:00Z", "2026-12-13T12:00:00Z"),
            ("@hourly", "2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z"),
            ("@daily", "2026-12-06T10:00:00Z", "2026-12-07T00:00:00Z"),
            ("@weekly", "2026-12-06T10:00:00Z", "2026-12-13T00:00:00Z"),
            ("@monthly", "2026-12-06T10:00:00Z", "2027-01-01T00:00:00Z"),
            ("@yearly", "2026-12-06T10:00:00Z", "2027-01-01T00:00:00Z"),
        ])
    func next(_ spec: String, _ after: String, _ expected: String) throws {
        let cron = try CronSpec(spec)
        #expect(cron.next(after: Self.date(after), in: Self.utc, start: Self.date(after)) == Self.date(expected))
    }

    @Test("@every counts from the schedule's start")
    func every() throws {
        let start = Self.date("2026-12-06T10:00:00Z")
        let cron = try CronSpec("@every 1h30m")
        #expect(cron.next(after: start, in: Self.utc, start: start) == start.addingTimeInterval(5400))
        #expect(
            cron.next(after: start.addingTimeInterval(5400), in: Self.utc, start: start)
                == start.addingTimeInterval(10800))
        #expect(
            try CronSpec("@every 2s").next(after: start.addingTimeInterval(3), in: Self.utc, start: start)
                == start.addingTimeInterval(4))
    }

    @Test("in a time zone, across daylight saving: a skipped time runs after the jump, a repeated one once")
    func daylightSaving() throws {
        let paris = TimeZone(identifier: "Europe/Paris")!
        let cron = try CronSpec("30 2 * * *")
        // 2027-03-28: clocks go from 02:00 to 03:00 in Paris; 02:30 does not exist.
        let spring = cron.next(after: Self.date("2027-03-27T12:00:00Z"), in: paris, start: .distantPast)
        #expect(spring == Self.date("2027-03-28T01:30:00Z"), "03:30 local, the time the clock jumped to")
        // 2027-10-31: clocks go back from 03:00 to 02:00; 02:30 happens twice, and runs once.
        let fall = try #require(cron.next(after: Self.date("2027-10-30T12:00:00Z"), in: paris, start: .distantPast))
        #expect(fall == Self.date("2027-10-31T00:30:00Z"))
        #expect(cron.next(after: fall, in: paris, start: .distantPast) == Self.date("2027-11-01T01:30:00Z"))
        // A time zone moves the tick: 09:00 in New York is 14:00 UTC in December.
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(
            try CronSpec("0 9 * * *").next(after: Self.date("2026-12-06T00:00:00Z"), in: newYork, start: .distantPast)
                == Self.date("2026-12-06T14:00:00Z"))
    }

    @Test(
        "a mistake names the field",
        arguments: [
            ("* * * *", "five fields"), ("60 * * * *", "the minute field"), ("* 24 * * *", "the hour field"),
            ("* * 0 * *", "the day of month field"), ("* * * 13 *", "the month field"),
            ("* * * * 8", "the day of week field"),
            ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"), ("@every 0s", "@every"), ("@every soon", "@every"),
            ("@sometimes", "five fields"), ("@every " + String(repeating: "999999999d", count: 20_000), "@every"),
        ])
    func mistakes(_ spec: String, _ expected: String) {
        #expect(throws: DrayError.self) { try CronSpec(spec) }
        do {
            _ = try CronSpec(spec)
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("a tick is due once its time has passed; one more than 30 s late is missed, and the latest is the one due")
    func due() {
        let start = Self.date("2026-12-06T10:00:00Z")
        var schedule = Schedule(cron: "@every 10s", createdAt: start)
        #expect(schedule.due(at: start.addingTimeInterval(5)) == nil)
        let onTime = schedule.due(at: start.addingTimeInterval(10.2))
        #expect(onTime?.tick == start.addingTimeInterval(10))
        #expect(onTime?.missed == false)
        schedule.lastTick = start.addingTimeInterval(10)
        let afterOutage = schedule.due(at: start.addingTimeInterval(3600 + 35))
        #expect(afterOutage?.tick == start.addingTimeInterval(3630))
        #expect(afterOutage?.missed == false)
        let longOutage = schedule.due(at: start.addingTimeInterval(3600 + 45))
        #expect(longOutage?.tick == start.addingTimeInterval(3640))
        #expect(schedule.due(at: start.addingTimeInterval(3600 + 9)).map { $0.missed } == false)
        // An hourly schedule whose nodes were all down past its tick: the tick is missed.
        var hourly = Schedule(cron: "@every 1h", createdAt: start)
        hourly.lastTick = start.addingTimeInterval(3600)
        let missed = hourly.due(at: start.addingTimeInterval(3 * 3600 + 40))
        #expect(missed?.tick == start.addingTimeInterval(3 * 3600))
        #expect(missed?.missed == true)
        // Every minute, and a week without a node: the latest minute is the one due.
        var minutely = Schedule(cron: "* * * * *", createdAt: start)
        minutely.lastTick = start
        let week = minutely.due(at: start.addingTimeInterval(7 * 86_400 + 75))
        #expect(week?.tick == start.addingTimeInterval(7 * 86_400 + 60))
        #expect(week?.missed == false)
    }
}
