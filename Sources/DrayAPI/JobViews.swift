import DrayEngine
import Foundation

/// `GET /jobs/{id}`: the seed's `id`, `status` and `stepsCompleted`, always, then our detail.
public struct JobView: Codable, Sendable {
    public var id: String
    public var name: String?
    public var status: JobStatus
    public var stepsCompleted: Int
    public var totalSteps: Int
    public var phase: JobPhase
    /// The step being prepared or run, counted from 1 as in messages.
    public var currentStep: Int?
    public var error: String?
    /// Why the job ended in `error`: failed, canceled, timeout, shutdown or restarted.
    public var reason: FailureReason?
    /// The job's timeout, in seconds.
    public var timeout: Double?
    /// The node that claimed the job (`--node-id`); absent while it waits in the queue.
    public var node: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var environment: [EnvironmentVariable]?
    /// Its webhooks, each secret shown as `true`.
    public var webhooks: [Webhook]?
    public var steps: [StepView]
    /// What went through each edge between steps whose producer has passed something on.
    public var edges: [EdgeView]?
    /// In a streaming job: the step (from 1) that holds the others back, by its edges'
    /// figures: the producer before it blocked on it, the consumer after it waited for it.
    public var bottleneck: Int?
    /// The W3C `traceparent` the job was submitted with: its span is that span's child.
    public var traceParent: String?
    /// The template (and its version) the job was made from.
    public var template: TemplateReference?
    /// The schedule, and its tick, that made the job.
    public var schedule: ScheduleReference?
    /// The project the job belongs to.
    public var project: String?
    /// How soon it was claimed among the queued jobs: low, normal or high.
    public var priority: Priority?

    /// An edge: from a step to a step that reads it (from 1), what it carried, and for a live
    /// pipe how long its producer was blocked and its consumer waited.
    public struct EdgeView: Codable, Sendable, Equatable {
        public var from: Int
        public var to: Int
        /// A pipe read as it is written (streaming), rather than a spool read once it is whole.
        public var live: Bool
        public var bytes: Int64
        /// Newlines; absent for a file a step wrote.
        public var lines: Int64?
        public var blockedSeconds: Double?
        public var waitedSeconds: Double?
    }

    /// A step as submitted (its output channel always named), then how it ran.
    public struct StepView: Codable, Sendable {
        public var step: Step
        /// In a graph: waiting, running, complete, failed, skipped or canceled.
        public var status: StepStatus?
        public var exitCode: Int32?
        /// Each attempt's exit code (null for one that timed out), for a step with `retries`.
        public var attempts: [Int32?]?
        public var startedAt: Date?
        /// When the first byte its container wrote was read.
        public var firstByteAt: Date?
        public var finishedAt: Date?
        public var outputBytes: Int64?
        /// The newlines of what it passed on.
        public var outputLines: Int64?
        /// The run whose output and log the step reused, rather than run.
        public var cached: CacheOrigin?

        private enum CodingKeys: String, CodingKey {
            case status, exitCode, attempts, startedAt, firstByteAt, finishedAt, outputBytes, outputLines, cached
        }

        public init(step: Step, state: StepState) {
            self.step = step
            self.step.output = step.outputChannel
            status = state.status
            exitCode = state.exitCode
            attempts = state.attempts
            startedAt = state.startedAt
            firstByteAt = state.firstByteAt
            finishedAt = state.finishedAt
            outputBytes = state.outputBytes
            outputLines = state.outputLines
            cached = state.cached
        }

        /// The step's fields and the state's, side by side in one object.
        public func encode(to encoder: any Encoder) throws {
            try step.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(status, forKey: .status)
            try container.encodeIfPresent(exitCode, forKey: .exitCode)
            try container.encodeIfPresent(attempts, forKey: .attempts)
            try container.encodeIfPresent(startedAt, forKey: .startedAt)
            try container.encodeIfPresent(firstByteAt, forKey: .firstByteAt)
            try container.encodeIfPresent(finishedAt, forKey: .finishedAt)
            try container.encodeIfPresent(outputBytes, forKey: .outputBytes)
            try container.encodeIfPresent(outputLines, forKey: .outputLines)
            try container.encodeIfPresent(cached, forKey: .cached)
        }

        public init(from decoder: any Decoder) throws {
            step = try Step(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try container.decodeIfPresent(StepStatus.self, forKey: .status)
            exitCode = try container.decodeIfPresent(Int32.self, forKey: .exitCode)
            attempts = try container.decodeIfPresent([Int32?].self, forKey: .attempts)
            startedAt = try container.decodeIfPresent(Date.self, forKey: .startedAt)
            firstByteAt = try container.decodeIfPresent(Date.self, forKey: .firstByteAt)
            finishedAt = try container.decodeIfPresent(Date.self, forKey: .finishedAt)
            outputBytes = try container.decodeIfPresent(Int64.self, forKey: .outputBytes)
            outputLines = try container.decodeIfPresent(Int64.self, forKey: .outputLines)
            cached = try container.decodeIfPresent(CacheOrigin.self, forKey: .cached)
        }
    }

    public init(_ record: JobRecord) {
        let state = record.state
        id = record.id
        name = record.job.name
        status = state.status
        stepsCompleted = state.stepsCompleted
        totalSteps = record.job.steps.count
        phase = state.phase
        currentStep = state.currentStep.map { $0 + 1 }
        error = state.error
        reason = state.reason
        timeout = record.job.timeout
        node = record.node
        createdAt = state.createdAt
        startedAt = state.startedAt
        finishedAt = state.finishedAt
        environment = record.job.environment
        webhooks = record.job.webhooks
        project = record.job.projectName
        priority = record.job.priority
        steps = record.job.steps.enumerated().map { index, step in
            StepView(step: step, state: state.steps.indices.contains(index) ? state.steps[index] : StepState())
        }
        let edges = Self.edges(record.job, state)
        self.edges = edges.isEmpty ? nil : edges
        bottleneck = Self.bottleneck(edges)
        traceParent = state.traceParent
        template = state.template
        schedule = state.schedule
    }

    /// Every edge whose producer has passed something on: a live one's figures from its
    /// consumer's input, a spooled one's from its producer's output.
    static func edges(_ job: Job, _ state: JobState) -> [EdgeView] {
        guard job.steps.count > 1, state.steps.count == job.steps.count else { return [] }
        var edges: [EdgeView] = []
        for (consumer, needs) in JobGraph(job).needs.enumerated() {
            for (position, producer) in needs.enumerated() {
                if position == 0, let input = state.steps[consumer].input {
                    edges.append(
                        EdgeView(
                            from: producer + 1, to: consumer + 1, live: true, bytes: input.bytes, lines: input.lines,
                            blockedSeconds: input.blockedSeconds, waitedSeconds: input.waitedSeconds))
                } else if let bytes = state.steps[producer].outputBytes {
                    edges.append(
                        EdgeView(
                            from: producer + 1, to: consumer + 1, live: false, bytes: bytes,
                            lines: state.steps[producer].outputLines))
                }
            }
        }
        return edges
    }

    /// The step whose live edges say it holds the others back: the one whose producers were
    /// blocked on it and whose consumers waited for it the longest in all. Nil without live
    /// edges, or when nothing was held back.
    static func bottleneck(_ edges: [EdgeView]) -> Int? {
        var held: [Int: Double] = [:]
        for edge in edges where edge.live {
            held[edge.to, default: 0] += edge.blockedSeconds ?? 0
            held[edge.from, default: 0] += edge.waitedSeconds ?? 0
        }
        guard let (step, seconds) = held.max(by: { $0.value < $1.value }), seconds > 0 else { return nil }
        return step
    }
}

/// `GET /jobs/{id}/log`: the seed's `lines`; with `detail=true`, each line's step (from 1)
/// and stream too, in arrays beside it.
public struct LogPage: Codable, Sendable {
    public var lines: [String]
    public var steps: [Int]?
    public var streams: [StandardStream]?

    public init(_ lines: [LogLine], detail: Bool) {
        self.lines = lines.map(\.text)
        steps = detail ? lines.map { $0.step + 1 } : nil
        streams = detail ? lines.map(\.stream) : nil
    }
}

/// A line of the live log with `detail=true`: its step (from 1), stream and text.
public struct LogEntry: Codable, Sendable {
    public var step: Int
    public var stream: StandardStream
    public var text: String

    public init(_ line: LogLine) {
        step = line.step + 1
        stream = line.stream
        text = line.text
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// One line of JSON: its escapes leave no CR or LF in it.
    public var json: String {
        String(decoding: (try? Self.encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// `POST /jobs`'s answer: the job echoed with its id, as the seed answers, and `warnings` when
/// the description had fields Dray does not know.
public struct SubmittedJob: Encodable, Sendable {
    public var job: Job
    public var warnings: [String]?

    private enum CodingKeys: String, CodingKey { case warnings }

    public init(job: Job, warnings: [String]?) {
        self.job = job
        self.warnings = warnings
    }

    public func encode(to encoder: any Encoder) throws {
        try job.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(warnings, forKey: .warnings)
    }
}

/// `GET /jobs/{id}/deliveries`: the job's webhook deliveries, oldest first, without their
/// bodies and signatures.
public struct DeliveriesView: Codable, Sendable {
    public var deliveries: [Delivery]

    public init(_ deliveries: [Delivery]) {
        self.deliveries = deliveries
    }
}

/// A schedule as the API shows it: its fields (a job's secrets withheld), and when it runs next.
public struct ScheduleView: Encodable, Sendable {
    public var schedule: Schedule
    public var nextRunAt: Date?

    public init(_ schedule: Schedule, now: Date = Date()) {
        self.schedule = schedule
        nextRunAt = schedule.paused ? nil : schedule.next(after: max(now, schedule.lastTick ?? now))
    }

    enum CodingKeys: String, CodingKey { case nextRunAt }

    public func encode(to encoder: any Encoder) throws {
        try schedule.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(nextRunAt, forKey: .nextRunAt)
    }
}
