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

    /// The processes a step (or `--step-pids`) may name.
    public static let pidsRange = 1...4_194_304

    /// The least memory the engine gives a container: 6 MiB.
    public static let leastMemory: Int64 = 6 << 20

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
            ? nil
            : "\(name) must be a number from \(cpuRange.lowerBound) (the engine's least) to \(Int(cpuRange.upperBound)), not \(cpus)"
    }

    /// Why `pids`, given as `name`, is out of ``pidsRange``; nil when it is in it.
    public static func pidsProblem(_ pids: Int, name: String) -> String? {
        pidsRange.contains(pids)
            ? nil : "\(name) must be a whole number from \(pidsRange.lowerBound) to \(pidsRange.upperBound)"
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
