/// One step of a job: a container image, run once, whose selected output becomes
/// the next step's standard input. Its `docker run` options are ``options``, read from the same
/// JSON object and reached as the step's own (`step.memory`).
@dynamicMemberLookup
public struct Step: Codable, Sendable, Equatable {
    public var name: String?
    /// The image to run, as `docker run` takes it. No tag means `:latest`.
    public var source: String
    public var environment: [EnvironmentVariable]?
    /// Which output is passed on: `stdout` (the default), `stderr`, or an absolute file path.
    public var output: OutputChannel?
    /// Pull the image before the step even when it is present.
    public var refresh: Bool?
    /// With ``endDelimiter``, only the lines strictly between a line equal to this one and
    /// a line equal to the end delimiter are passed on. Every line still goes to the log.
    public var beginDelimiter: String?
    public var endDelimiter: String?
    /// Seconds the step may run; then it is stopped and the job ends in `error`.
    public var timeout: Double?
    /// How many times a failed attempt (a non-zero exit, or a timeout) is run again, with the same input.
    public var retries: Int?
    /// Seconds before the first retry; each later one waits twice as long, at most 60 s. Default 1.
    public var retryDelay: Double?
    /// Seconds between SIGTERM and SIGKILL when the step is stopped. Default 10.
    public var stopGracePeriod: Double?
    /// The names of the steps whose output this step reads; nil in a chain, where each step
    /// reads the one before. A job where any step says it is a graph (``JobGraph``).
    public var needs: [String]?
    /// How a step with several needs gets them: one after the other on stdin (the default),
    /// or each as a file.
    public var inputs: FanIn?
    /// When the step runs, given how its needs ended.
    public var when: StepCondition?
    /// Reuse the output and log of an earlier run of the same step on the same input bytes
    /// (``StepCache``), rather than run its container.
    public var cache: Bool?
    /// Its `docker run` options.
    public var options = StepOptions()

    /// The default of ``stopGracePeriod``.
    public static let defaultStopGracePeriod = 10.0

    public init(
        name: String? = nil,
        source: String,
        environment: [EnvironmentVariable]? = nil,
        output: OutputChannel? = nil,
        refresh: Bool? = nil,
        beginDelimiter: String? = nil,
        endDelimiter: String? = nil,
        timeout: Double? = nil,
        retries: Int? = nil,
        retryDelay: Double? = nil,
        stopGracePeriod: Double? = nil
    ) {
        self.name = name
        self.source = source
        self.environment = environment
        self.output = output
        self.refresh = refresh
        self.beginDelimiter = beginDelimiter
        self.endDelimiter = endDelimiter
        self.timeout = timeout
        self.retries = retries
        self.retryDelay = retryDelay
        self.stopGracePeriod = stopGracePeriod
    }

    /// An option, as if it were the step's own field: `step.memory` is `step.options.memory`.
    public subscript<Value>(dynamicMember option: WritableKeyPath<StepOptions, Value>) -> Value {
        get { options[keyPath: option] }
        set { options[keyPath: option] = newValue }
    }

    /// The channel whose bytes are passed on.
    public var outputChannel: OutputChannel { output ?? .stdout }

    /// How the step is called in messages: `step 2 "upper"`, or `step 2` when it has no name.
    public func label(index: Int) -> String {
        if let name, !name.isEmpty { return "step \(index + 1) \"\(name)\"" }
        return "step \(index + 1)"
    }
}

extension Step {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, source, environment, output, refresh, beginDelimiter, endDelimiter
        case timeout, retries, retryDelay, stopGracePeriod, needs, inputs, when, cache
    }

    /// Every field a step may have: its own and its options'.
    static var fields: [String] {
        CodingKeys.allCases.map(\.rawValue) + StepOptions.CodingKeys.allCases.map(\.rawValue)
    }

    /// Reads a step; a missing source reads as empty, so that validation reports it with
    /// every other problem of the job rather than alone.
    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: Self.fields, object: "a step")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        source = try container.decodeIfPresent(String.self, forKey: .source) ?? ""
        environment = try container.decodeIfPresent([EnvironmentVariable].self, forKey: .environment)
        output = try container.decodeIfPresent(OutputChannel.self, forKey: .output)
        refresh = try container.decodeIfPresent(Bool.self, forKey: .refresh)
        beginDelimiter = try container.decodeIfPresent(String.self, forKey: .beginDelimiter)
        endDelimiter = try container.decodeIfPresent(String.self, forKey: .endDelimiter)
        timeout = try container.decodeIfPresent(Double.self, forKey: .timeout)
        retries = try container.decodeWholeIfPresent(forKey: .retries, as: "a whole number from 0 to 100")
        retryDelay = try container.decodeIfPresent(Double.self, forKey: .retryDelay)
        stopGracePeriod = try container.decodeIfPresent(Double.self, forKey: .stopGracePeriod)
        needs = try container.decodeIfPresent([String].self, forKey: .needs)
        inputs = try container.decodeIfPresent(FanIn.self, forKey: .inputs)
        when = try container.decodeIfPresent(StepCondition.self, forKey: .when)
        cache = try container.decodeIfPresent(Bool.self, forKey: .cache)
        options = try StepOptions(from: decoder)
    }

    /// Writes the step's fields and its options' side by side, in one object.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(source, forKey: .source)
        try container.encodeIfPresent(environment, forKey: .environment)
        try container.encodeIfPresent(output, forKey: .output)
        try container.encodeIfPresent(refresh, forKey: .refresh)
        try container.encodeIfPresent(beginDelimiter, forKey: .beginDelimiter)
        try container.encodeIfPresent(endDelimiter, forKey: .endDelimiter)
        try container.encodeIfPresent(timeout, forKey: .timeout)
        try container.encodeIfPresent(retries, forKey: .retries)
        try container.encodeIfPresent(retryDelay, forKey: .retryDelay)
        try container.encodeIfPresent(stopGracePeriod, forKey: .stopGracePeriod)
        try container.encodeIfPresent(needs, forKey: .needs)
        try container.encodeIfPresent(inputs, forKey: .inputs)
        try container.encodeIfPresent(when, forKey: .when)
        try container.encodeIfPresent(cache, forKey: .cache)
        try options.encode(to: encoder)
    }
}

extension KeyedDecodingContainer {
    /// A whole number, read as any number so that `1.5` is refused naming its field ("must be
    /// `what`, not 1.5") rather than by the JSON decoder as "not valid JSON".
    public func decodeWholeIfPresent(forKey key: Key, as what: String) throws -> Int? {
        guard let number = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard let whole = Int(exactly: number) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be \(what), not \(number)")
        }
        return whole
    }
}
