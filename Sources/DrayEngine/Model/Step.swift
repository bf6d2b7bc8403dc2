/// One step of a job: a container image, run once, whose selected output becomes
/// the next step's standard input.
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
    /// The command, as `docker run IMAGE COMMAND…` gives it; the image's when nil.
    public var command: [String]?
    /// The entrypoint, as `docker run --entrypoint`; the image's when nil.
    public var entrypoint: [String]?
    /// The folder the step starts in, an absolute path (`--workdir`).
    public var workingDir: String?
    /// The user, `name|uid[:group|gid]` (`--user`).
    public var user: String?
    /// The most memory the step may use (`--memory`); the server's `--step-memory` when nil.
    public var memory: MemorySize?
    /// How many CPUs the step may use, a decimal (`--cpus`); the server's `--step-cpus` when nil.
    public var cpus: Double?
    /// How many processes the step may have (`--pids-limit`); the server's `--step-pids` when nil.
    public var pidsLimit: Int?
    /// `none`, `bridge` (the default) or a network's name (`--network`); never the host's.
    public var network: String?

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
        case timeout, retries, retryDelay, stopGracePeriod
        case command, entrypoint, workingDir, user, memory, cpus, pidsLimit, network
    }

    /// Reads a step; a missing source reads as empty, so that validation reports it with
    /// every other problem of the job rather than alone.
    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a step")
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
        command = try container.decodeIfPresent([String].self, forKey: .command)
        entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
        workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        memory = try container.decodeIfPresent(MemorySize.self, forKey: .memory)
        cpus = try container.decodeIfPresent(Double.self, forKey: .cpus)
        pidsLimit = try container.decodeWholeIfPresent(forKey: .pidsLimit, as: "a whole number")
        network = try container.decodeIfPresent(String.self, forKey: .network)
    }
}

extension KeyedDecodingContainer {
    /// A whole number, read as any number so that `1.5` is refused naming its field ("must be
    /// `what`, not 1.5") rather than by the JSON decoder as "not valid JSON".
    func decodeWholeIfPresent(forKey key: Key, as what: String) throws -> Int? {
        guard let number = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard let whole = Int(exactly: number) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be \(what), not \(number)")
        }
        return whole
    }
}
