import Foundation

/// A job: an ordered list of steps, each a container image run in turn, with the
/// output of one step fed to the standard input of the next.
///
/// The JSON shape is the original Dray's: `{id?, name?, environment?, steps}`.
public struct Job: Codable, Sendable, Equatable {
    /// Assigned by Dray; a client-sent value is ignored on submission.
    public var id: String?
    public var name: String?
    /// Environment given to every step. A step's own environment wins over it.
    public var environment: [EnvironmentVariable]?
    public var steps: [Step]
    /// Seconds the whole job may run; then its step is stopped and the job ends in `error`.
    public var timeout: Double?
    /// All steps start together, joined by pipes, like `a | b | c`; the job completes only if
    /// every step exits 0.
    public var streaming: Bool?
    /// A streaming job also writes every step's output to its spool as it streams, so that a
    /// resume starts from the first step that did not complete, and every step's output can be
    /// downloaded.
    public var durable: Bool?
    /// Every step may reuse an earlier run's output (``Step/cache``), unless it says `false`.
    public var cache: Bool?
    /// In a graph (a job whose steps say `needs`): how many steps may run at once; nil, no limit
    /// but the node's `--max-concurrent-steps`.
    public var parallelism: Int?
    /// Addresses told when the job starts or ends (``Webhook``).
    public var webhooks: [Webhook]?
    /// The project the job belongs to: its token's, or with the server's own token this field,
    /// or `default`. The server writes it on every job it stores.
    public var project: String?
    /// How soon the job is claimed among the queued ones; nil is `normal`.
    public var priority: Priority?

    public init(
        id: String? = nil,
        name: String? = nil,
        environment: [EnvironmentVariable]? = nil,
        steps: [Step],
        timeout: Double? = nil,
        streaming: Bool? = nil
    ) {
        self.id = id
        self.name = name
        self.environment = environment
        self.steps = steps
        self.timeout = timeout
        self.streaming = streaming
    }

    /// Whether step `index` may reuse an earlier run's output: its own `cache`, else the job's.
    public func caches(step index: Int) -> Bool {
        steps[index].cache ?? cache ?? false
    }

    /// The environment of step `index` as `NAME=value` strings: the job's, then the
    /// step's, where a variable set by both takes the step's value.
    public func environment(forStep index: Int) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        for variable in (environment ?? []) + (steps[index].environment ?? []) {
            if values.updateValue(variable.value, forKey: variable.variable) == nil {
                order.append(variable.variable)
            }
        }
        return order.map { "\($0)=\(values[$0]!)" }
    }

    /// The environment of attempt `attempt` (from 1) of step `index` as its container gets it:
    /// ``environment(forStep:)``, then where it runs (`DRAY_JOB_ID`, `DRAY_JOB_NAME`,
    /// `DRAY_STEP_INDEX` from 1, `DRAY_STEP_NAME`, `DRAY_ATTEMPT`), each unless the job sets it.
    /// With a tracer, `TRACEPARENT` is the attempt's span, so that a step that traces itself
    /// joins the job's trace. They are not part of a step's cache key: a cached step's output does
    /// not depend on them.
    public func environment(forStep index: Int, id: String, attempt: Int, traceParent: String? = nil) -> [String] {
        let own = environment(forStep: index)
        let set = Set(own.map { $0.prefix { $0 != "=" } })
        var identity = [
            ("DRAY_JOB_ID", id), ("DRAY_JOB_NAME", name ?? ""), ("DRAY_STEP_INDEX", String(index + 1)),
            ("DRAY_STEP_NAME", steps[index].name ?? ""), ("DRAY_ATTEMPT", String(attempt)),
        ]
        if let traceParent { identity.append((TraceContext.variable, traceParent)) }
        return own + identity.filter { !set.contains(Substring($0.0)) }.map { "\($0.0)=\($0.1)" }
    }
}

/// One variable of a job's or a step's environment: `{variable, value}`, and `secret: true`
/// for a password or a token.
///
/// A secret's value goes to the container and nowhere else: it is encoded only by an encoder
/// that says `keepSecrets` (the stores, and a client sending the job), so an API answer holds
/// `{"variable", "secret": true}` and no value; log lines show it as `***`.
public struct EnvironmentVariable: Codable, Sendable, Equatable {
    public var variable: String
    public var value: String
    public var secret: Bool?

    public init(variable: String, value: String, secret: Bool? = nil) {
        self.variable = variable
        self.value = value
        self.secret = secret
    }

    public var isSecret: Bool { secret == true }

    /// Set to `true` in an encoder's `userInfo` to encode secrets' values.
    public static let keepSecrets = CodingUserInfoKey(rawValue: "dray.keepSecrets")!

    /// Set to `true` in a decoder's `userInfo` to read an API answer, where a secret comes
    /// without its value: it is read as empty. A submitted secret still needs one.
    public static let valuesWithheld = CodingUserInfoKey(rawValue: "dray.valuesWithheld")!

    enum CodingKeys: String, CodingKey, CaseIterable {
        case variable, value, secret
    }

    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(
            decoder, known: CodingKeys.allCases.map(\.rawValue), object: "an environment variable")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        variable = try container.decode(String.self, forKey: .variable)
        secret = try container.decodeIfPresent(Bool.self, forKey: .secret)
        if secret == true, decoder.userInfo[Self.valuesWithheld] as? Bool == true {
            value = try container.decodeIfPresent(String.self, forKey: .value) ?? ""
        } else {
            value = try container.decode(String.self, forKey: .value)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(variable, forKey: .variable)
        if !isSecret || encoder.userInfo[Self.keepSecrets] as? Bool == true {
            try container.encode(value, forKey: .value)
        }
        try container.encodeIfPresent(secret, forKey: .secret)
    }
}

extension JSONEncoder {
    /// An encoder that writes secrets' values: for stores, and for a client that sends a job.
    public static func keepingSecrets() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.userInfo[EnvironmentVariable.keepSecrets] = true
        return encoder
    }
}

extension Job {
    /// Every secret value of the job and its steps, for masking log lines.
    public var secretValues: [String] {
        ((environment ?? []) + steps.flatMap { $0.environment ?? [] }).filter(\.isSecret).map(\.value)
            + (webhooks ?? []).compactMap(\.secret)
    }

    /// True once the values of its secrets were erased (``erasingSecrets()``): lines can no
    /// longer be masked.
    public var secretsErased: Bool {
        secretValues.contains { $0.isEmpty }
    }

    /// The job with every secret's value erased, for when it can no longer run or be resumed.
    public func erasingSecrets() -> Job {
        func erase(_ variables: [EnvironmentVariable]?) -> [EnvironmentVariable]? {
            variables?.map { $0.isSecret ? EnvironmentVariable(variable: $0.variable, value: "", secret: true) : $0 }
        }
        var job = self
        job.environment = erase(job.environment)
        for index in job.steps.indices { job.steps[index].environment = erase(job.steps[index].environment) }
        job.webhooks = job.webhooks?.map { Webhook(url: $0.url, secret: $0.secret.map { _ in "" }, events: $0.events) }
        return job
    }
}

extension Job {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, environment, steps, timeout, streaming, durable, cache, parallelism, webhooks, project, priority
    }

    /// Fields of the seed's answers that a client may send back; ignored without a warning.
    static let echoedFields: Set<String> = ["status", "stepsCompleted"]

    /// Reads a job; an `id` that is not a string is ignored, as every client-sent id is on submission.
    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(
            decoder, known: CodingKeys.allCases.map(\.rawValue), ignored: Self.echoedFields, object: "a job")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try? container.decodeIfPresent(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        environment = try container.decodeIfPresent([EnvironmentVariable].self, forKey: .environment)
        steps = try container.decode([Step].self, forKey: .steps)
        timeout = try container.decodeIfPresent(Double.self, forKey: .timeout)
        streaming = try container.decodeIfPresent(Bool.self, forKey: .streaming)
        durable = try container.decodeIfPresent(Bool.self, forKey: .durable)
        cache = try container.decodeIfPresent(Bool.self, forKey: .cache)
        parallelism = try container.decodeWholeIfPresent(forKey: .parallelism, as: "a whole number from 1 to 1000")
        webhooks = try container.decodeIfPresent([Webhook].self, forKey: .webhooks)
        project = try container.decodeIfPresent(String.self, forKey: .project)
        priority = try container.decodeIfPresent(Priority.self, forKey: .priority)
    }

    /// The project the job belongs to; `default` for a job from before projects.
    public var projectName: String { project ?? Project.defaultName }
}
