import Foundation

/// A memory size, as `docker run --memory` takes it: a whole number of bytes, or a string
/// such as `512m` or `1g` (units b, k, m, g; powers of 1024). It is answered in bytes.
public struct MemorySize: Codable, Sendable, Equatable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    /// `512m`, `1G`, `65536`, `64k`; nil for anything else.
    public init?(_ text: String) {
        let lower = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Int64] = ["b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var digits = Substring(lower)
        var unit: Int64 = 1
        if let last = lower.last, let factor = units[last] {
            unit = factor
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let count = Int64(digits), count >= 0 else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.bytes = bytes
    }

    public var description: String { "\(bytes) bytes" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            guard let whole = Int64(exactly: number), whole >= 0 else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "must be a whole number of bytes or a size such as \"512m\", not \(number)")
            }
            bytes = whole
            return
        }
        let text = try container.decode(String.self)
        guard let size = MemorySize(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "must be a number of bytes or a size such as \"512m\" or \"1g\", not \"\(text)\"")
        }
        self = size
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(bytes)
    }
}

/// What a server allows a step at most, and gives a step that does not ask: `--step-memory`,
/// `--step-cpus`, `--step-pids`. Nil is no limit. And `--max-stop-grace`, the longest
/// `stopGracePeriod` a step may ask for, which is never unlimited.
public struct StepLimits: Sendable, Equatable {
    public var memory: MemorySize?
    public var cpus: Double?
    public var pids: Int?
    /// Seconds: a step that ignores SIGTERM is killed this long after it at the latest, on a
    /// cancel, a timeout or a shutdown.
    public var maxStopGrace: Double

    /// The default of `--max-stop-grace`.
    public static let defaultMaxStopGrace = 30.0

    /// The CPUs a step (or `--step-cpus`) may name: the engine's least is 0.01; less rounds
    /// to no limit at all.
    public static let cpuRange: ClosedRange<Double> = 0.01...1024

    public init(
        memory: MemorySize? = nil, cpus: Double? = nil, pids: Int? = nil,
        maxStopGrace: Double = StepLimits.defaultMaxStopGrace
    ) {
        self.memory = memory
        self.cpus = cpus
        self.pids = pids
        self.maxStopGrace = maxStopGrace
    }

    /// Why `cpus`, given as `name`, is out of ``cpuRange``; nil when it is in it.
    public static func cpusProblem(_ cpus: Double, name: String) -> String? {
        cpus.isFinite && cpuRange.contains(cpus)
            ? nil : "\(name) must be a number from \(cpuRange.lowerBound) (the engine's least) to 1024, not \(cpus)"
    }

    /// Each step that asks for more than a ceiling, one message each.
    public func problems(in job: Job) -> [String] {
        var problems: [String] = []
        for (index, step) in job.steps.enumerated() {
            let path = "steps[\(index)]"
            if let asked = step.memory, let ceiling = memory, asked.bytes > ceiling.bytes {
                problems.append(
                    "\(path).memory asks for \(asked.bytes) bytes; this server allows at most \(ceiling.bytes)")
            }
            if let asked = step.cpus, let ceiling = cpus, asked > ceiling {
                problems.append("\(path).cpus asks for \(asked); this server allows at most \(ceiling)")
            }
            if let asked = step.pidsLimit, let ceiling = pids, asked > ceiling {
                problems.append("\(path).pidsLimit asks for \(asked); this server allows at most \(ceiling)")
            }
            if let asked = step.stopGracePeriod, asked > maxStopGrace {
                problems.append(
                    "\(path).stopGracePeriod asks for \(asked) s; this server allows at most \(maxStopGrace) s (--max-stop-grace)"
                )
            }
        }
        return problems
    }
}

extension JobDocument {
    /// The problems of a step's `docker run` options.
    static func optionProblems(_ step: Step, path: String) -> [String] {
        var problems: [String] = []
        for (name, arguments) in [("command", step.command), ("entrypoint", step.entrypoint)] {
            guard let arguments else { continue }
            if arguments.count > 4096 { problems.append("\(path).\(name) has \(arguments.count) items; at most 4096") }
            if arguments.contains(where: { $0.utf8.contains(0) }) {
                problems.append("\(path).\(name) must not contain a NUL character")
            }
        }
        if let directory = step.workingDir {
            if !directory.hasPrefix("/") || directory.utf8.contains(0) || directory.utf8.count > 4096 {
                problems.append("\(path).workingDir must be an absolute path, not \"\(directory)\"")
            }
        }
        if let user = step.user,
            user.range(
                of: #"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,255})?$"#,
                options: .regularExpression) == nil
        {
            problems.append(
                "\(path).user must be a user name or id, optionally :group, as docker run --user takes it, not \"\(user)\""
            )
        }
        if let memory = step.memory, memory.bytes < 6 << 20 {
            problems.append("\(path).memory must be at least 6 MiB (the engine's least), not \(memory.bytes) bytes")
        }
        if let cpus = step.cpus, let problem = StepLimits.cpusProblem(cpus, name: "\(path).cpus") {
            problems.append(problem)
        }
        if let pids = step.pidsLimit, !(1...4_194_304).contains(pids) {
            problems.append("\(path).pidsLimit must be a whole number from 1 to 4194304")
        }
        if let network = step.network {
            if network == "host" || network.hasPrefix("container:") {
                problems.append(
                    "\(path).network cannot be \"\(network)\": a step never shares the host's or another container's network"
                )
            } else if network.range(of: #"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"#, options: .regularExpression) == nil {
                problems.append("\(path).network must be \"none\", \"bridge\" or a network's name, not \"\(network)\"")
            }
        }
        return problems
    }
}
