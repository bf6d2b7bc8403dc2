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
}

/// One variable of a job's or a step's environment: `{variable, value}`.
public struct EnvironmentVariable: Codable, Sendable, Equatable {
    public var variable: String
    public var value: String

    public init(variable: String, value: String) {
        self.variable = variable
        self.value = value
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case variable, value
    }

    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(
            decoder, known: CodingKeys.allCases.map(\.rawValue), object: "an environment variable")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        variable = try container.decode(String.self, forKey: .variable)
        value = try container.decode(String.self, forKey: .value)
    }
}

extension Job {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, environment, steps, timeout, streaming
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
    }
}
