import Foundation

/// A job run on a clock: `POST /schedules` with a `cron` (``CronSpec``), a `timeZone` (IANA,
/// UTC by default), and a `job` or a `template` with `params`. Each tick is claimed in the
/// store by one node of many, which submits the tick's job.
public struct Schedule: Codable, Sendable, Equatable {
    public enum CatchUp: String, Codable, Sendable {
        /// A tick missed while every node was down runs once, when a node is up again.
        case one
        /// Missed ticks are skipped.
        case none
    }

    public var id: String
    public var cron: String
    public var timeZone: String
    public var job: Job?
    public var template: String?
    public var params: [String: ParameterValue]?
    public var catchUp: CatchUp
    /// Run a tick even while the previous tick's job still runs.
    public var overlap: Bool
    public var paused: Bool
    public var createdAt: Date
    /// The last tick a node claimed, run or skipped.
    public var lastTick: Date?
    /// The job the last tick that ran made.
    public var lastJob: String?
    /// The project the schedule and its jobs belong to; nil for `default`.
    public var project: String?

    public init(
        id: String = UUID().uuidString, cron: String, timeZone: String = "UTC", job: Job? = nil,
        template: String? = nil, params: [String: ParameterValue]? = nil, catchUp: CatchUp = .one,
        overlap: Bool = false, createdAt: Date = Date()
    ) {
        self.id = id
        self.cron = cron
        self.timeZone = timeZone
        self.job = job
        self.template = template
        self.params = params
        self.catchUp = catchUp
        self.overlap = overlap
        paused = false
        self.createdAt = createdAt
    }

    /// What `POST /schedules` takes.
    public struct Definition: Decodable, Sendable {
        public var cron: String
        public var timeZone: String?
        public var job: Job?
        public var template: String?
        public var params: [String: ParameterValue]?
        public var catchUp: CatchUp?
        public var overlap: Bool?
        /// With the server's token: the project the schedule belongs to.
        public var project: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case cron, timeZone, job, template, params, catchUp, overlap, project
        }

        public init(from decoder: any Decoder) throws {
            try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a schedule")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            cron = try container.decode(String.self, forKey: .cron)
            timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
            job = try container.decodeIfPresent(Job.self, forKey: .job)
            template = try container.decodeIfPresent(String.self, forKey: .template)
            params = try container.decodeIfPresent([String: ParameterValue].self, forKey: .params)
            catchUp = try container.decodeIfPresent(CatchUp.self, forKey: .catchUp)
            overlap = try container.decodeIfPresent(Bool.self, forKey: .overlap)
            project = try container.decodeIfPresent(String.self, forKey: .project)
        }
    }

    /// Its spec and time zone, checked: each mistake names its field.
    public func clock() throws(DrayError) -> (spec: CronSpec, timeZone: TimeZone) {
        let spec = try CronSpec(cron)
        guard let zone = TimeZone(identifier: timeZone) else {
            throw DrayError(
                .invalidJob,
                "timeZone must be an IANA time zone such as UTC or Europe/Paris, not \"\(timeZone.prefix(100))\"")
        }
        return (spec, zone)
    }

    /// Its next tick after `date`.
    public func next(after date: Date) -> Date? {
        guard let (spec, zone) = try? clock() else { return nil }
        return spec.next(after: date, in: zone, start: createdAt)
    }

    /// The tick to run or skip at `now`, if one is due: the latest tick since ``lastTick`` (or
    /// its creation), and whether it is missed: more than `grace` late, as when every node was
    /// down. Nil when none is due.
    public func due(at now: Date, grace: TimeInterval = 30) -> (tick: Date, missed: Bool)? {
        guard var tick = next(after: lastTick ?? createdAt), tick <= now else { return nil }
        // The latest due tick. After an outage, the ticks before the last day are all missed:
        // stepping starts a day back.
        if now.timeIntervalSince(tick) > 86_400, let recent = next(after: now.addingTimeInterval(-86_400)),
            recent <= now
        {
            tick = recent
        }
        while let later = next(after: tick), later <= now { tick = later }
        return (tick, now.timeIntervalSince(tick) > grace)
    }
}

/// Where schedules are kept; a tick is claimed by one node of many.
public protocol ScheduleStore: Sendable {
    func createSchedule(_ schedule: Schedule) async throws
    func schedule(id: String) async throws -> Schedule?
    /// Every schedule, oldest first.
    func schedules() async throws -> [Schedule]
    /// False when there was no such schedule.
    func deleteSchedule(id: String) async throws -> Bool
    /// Pauses or resumes a schedule; nil when there is none.
    func setPaused(id: String, _ paused: Bool) async throws -> Schedule?
    /// Claims `tick` for this node: true when the schedule's last tick was still `previous`
    /// (no other node claimed a tick since), and is now `tick`, with `job` as its last job when
    /// the tick runs one.
    func claimTick(id: String, previous: Date?, tick: Date, job: String?) async throws -> Bool
}

/// Which schedule made a job, at which tick.
public struct ScheduleReference: Codable, Sendable, Equatable {
    public var id: String
    public var tick: Date

    public init(id: String, tick: Date) {
        self.id = id
        self.tick = tick
    }
}
