import Foundation
import Yams

/// Reads a job description from JSON or YAML and validates it, turning every problem
/// into a message that names the field: `steps[1].source is required`.
///
/// Field paths count steps from 0, as JSON does; messages about a running job count from 1.
public enum JobDocument {
    /// Decodes and validates a job. JSON is recognised by its leading `{`; anything else is read as YAML.
    /// Unknown fields are left out quietly; ``read(_:strict:)`` reports them.
    public static func decode(_ data: Data) throws(DrayError) -> Job {
        try read(data).job
    }

    /// A job read from a description, and the warnings about it.
    public struct Reading: Sendable {
        public var job: Job
        /// One message per field no part of Dray reads, naming its path and, when one is near,
        /// the field that was probably meant: `steps[0].ouput is not a field of a step; did you mean "output"?`
        public var warnings: [String]
    }

    /// Decodes and validates a job, and reports every field that is not Dray's. With `strict`,
    /// such a field is a problem like any other, and the job is refused.
    public static func read(_ data: Data, strict: Bool = false, maxBytes: Int = defaultMaxBytes) throws(DrayError)
        -> Reading
    {
        let inspection = inspect(data, maxBytes: maxBytes)
        let problems = inspection.problems + (strict ? inspection.warnings : [])
        guard problems.isEmpty, let job = inspection.job else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        return Reading(job: job, warnings: inspection.warnings)
    }

    /// What is wrong with a job description, and what is only doubtful, without throwing.
    public struct Inspection: Sendable {
        /// The job, when it could be decoded (it may still have problems).
        public var job: Job?
        /// What makes the job invalid; empty when it is valid.
        public var problems: [String]
        /// Fields Dray does not know.
        public var warnings: [String]

        public init(job: Job? = nil, problems: [String], warnings: [String]) {
            self.job = job
            self.problems = problems
            self.warnings = warnings
        }
    }

    /// How large a description may grow once its YAML aliases are expanded, when the caller
    /// sets no bound (the server passes its body limit).
    public static let defaultMaxBytes = 16 << 20

    /// Decodes a job and lists its problems and warnings. JSON is recognised by its leading
    /// `{`; anything else is read as YAML, whose aliases may repeat a part many times: what
    /// they expand to counts against `maxBytes`, checked before the job is built.
    public static func inspect(_ data: Data, maxBytes: Int = defaultMaxBytes) -> Inspection {
        let unknown = UnknownFields()
        let userInfo: [CodingUserInfoKey: any Sendable] = [UnknownFields.userInfoKey: unknown]
        let job: Job
        do {
            if data.first(where: { !$0.isWhitespace }) == UInt8(ascii: "{") {
                if let path = DuplicateKeys.first(in: data) {
                    return Inspection(problems: ["\(path) appears twice: give each field once"], warnings: [])
                }
                let decoder = JSONDecoder()
                decoder.userInfo = userInfo
                job = try decoder.decode(Job.self, from: data)
            } else {
                guard let text = String(data: data, encoding: .utf8) else {
                    return Inspection(problems: ["the job description is not UTF-8 text"], warnings: [])
                }
                let parser: Parser
                let root: Node
                do {
                    parser = try Parser(yaml: text, resolver: Resolver.basic.appending(.merge))
                    root = try parser.singleRoot() ?? ""
                } catch {
                    throw DecodingError.dataCorrupted(
                        .init(codingPath: [], debugDescription: "not valid YAML", underlyingError: error))
                }
                if expandedSize(of: root, budget: maxBytes) > maxBytes {
                    return Inspection(
                        problems: [
                            "the job description expands to more than \(maxBytes) bytes: a YAML alias counts as often as it is used"
                        ], warnings: [])
                }
                job = try withExtendedLifetime(parser) {
                    try YAMLDecoder().decode(Job.self, from: root, userInfo: userInfo)
                }
            }
        } catch let error as DecodingError {
            return Inspection(problems: [message(for: error)], warnings: unknown.warnings)
        } catch {
            return Inspection(problems: ["the job description cannot be read: \(error)"], warnings: unknown.warnings)
        }
        return Inspection(job: job, problems: problems(in: job), warnings: unknown.warnings)
    }

    /// Decodes a JSON request that is not a job (a template, a template's run), each problem
    /// naming its field as a job's do; also the fields Dray does not know.
    public static func readJSON<T: Decodable>(_ type: T.Type, from data: Data) throws(DrayError) -> (
        value: T, warnings: [String]
    ) {
        if let path = DuplicateKeys.first(in: data) {
            throw DrayError(.invalidJob, "\(path) appears twice: give each field once")
        }
        let unknown = UnknownFields()
        let decoder = JSONDecoder()
        decoder.userInfo = [UnknownFields.userInfoKey: unknown]
        do {
            return (try decoder.decode(T.self, from: data), unknown.warnings)
        } catch let error as DecodingError {
            throw DrayError(.invalidJob, message(for: error))
        } catch {
            throw DrayError(.invalidJob, "the request body cannot be read: \(error)")
        }
    }

    /// About how many bytes `node` stands for with every alias expanded, counting no further
    /// than just past `budget`, so that the count costs no more than the budget allows.
    static func expandedSize(of node: Node, budget: Int) -> Int {
        var total = 0
        var pending = [node]
        while let next = pending.popLast(), total <= budget {
            switch next {
            case .scalar(let scalar): total += scalar.string.utf8.count + 2
            case .mapping(let mapping):
                total += 2
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence):
                total += 2
                pending.append(contentsOf: sequence)
            case .alias: total += 2
            }
        }
        return total
    }

    /// Checks what decoding cannot: throws one ``DrayError`` listing every problem.
    public static func validate(_ job: Job) throws(DrayError) {
        let problems = problems(in: job)
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
    }

    /// Every problem in `job`, one message each.
    public static func problems(in job: Job) -> [String] {
        var problems: [String] = []
        problems += environmentProblems(job.environment, path: "environment")
        problems += secondsProblems(job.timeout, path: "timeout")
        problems += lengthProblems(job.name, path: "name", limit: Limits.name)
        problems += Webhook.problems(in: job.webhooks)
        if let project = job.project, let problem = Project.nameProblem(project) { problems.append(problem) }
        if job.durable == true, job.streaming != true {
            problems.append(
                "durable applies to a streaming job (\"streaming\": true): other jobs spool every step already")
        }
        if job.streaming == true, job.cache == true || job.steps.contains(where: { $0.cache == true }) {
            problems.append(
                "cache applies to a job that is not streaming: a streaming step's input is not known before it starts")
        }
        if job.steps.isEmpty { problems.append("steps must contain at least one step") }
        if job.steps.count > Limits.steps {
            problems.append("steps must hold at most \(Limits.steps) steps, not \(job.steps.count)")
            return problems
        }
        for (index, step) in job.steps.enumerated() {
            let path = "steps[\(index)]"
            if step.source.trimmingCharacters(in: .whitespaces).isEmpty {
                problems.append("\(path).source is required")
            } else {
                do throws(DrayError) {
                    _ = try ImageReference(parsing: step.source)
                } catch {
                    problems.append("\(path).source \(error.message)")
                }
            }
            problems += environmentProblems(step.environment, path: "\(path).environment")
            problems += lengthProblems(step.name, path: "\(path).name", limit: Limits.name)
            problems += step.options.problems(at: path)
            problems += lengthProblems(step.beginDelimiter, path: "\(path).beginDelimiter", limit: Limits.name)
            problems += lengthProblems(step.endDelimiter, path: "\(path).endDelimiter", limit: Limits.name)
            problems += secondsProblems(step.timeout, path: "\(path).timeout")
            problems += secondsProblems(step.retryDelay, path: "\(path).retryDelay", allowZero: true)
            problems += secondsProblems(step.stopGracePeriod, path: "\(path).stopGracePeriod", allowZero: true)
            if let retries = step.retries, !(0...100).contains(retries) {
                problems.append("\(path).retries must be a whole number from 0 to 100")
            }
            if job.streaming == true {
                if (step.retries ?? 0) > 0, job.durable != true {
                    problems.append(
                        "\(path).retries needs \"durable\": true in a streaming job: without it, its input is not kept")
                }
                if case .file = step.outputChannel, index < job.steps.count - 1,
                    job.steps.allSatisfy({ $0.needs == nil })
                {
                    problems.append(
                        "\(path).output cannot be a file in a streaming job, except on the last step: the next step reads as it runs"
                    )
                }
            }
            switch (step.beginDelimiter, step.endDelimiter) {
            case (.some, nil): problems.append("\(path).endDelimiter is required when beginDelimiter is set")
            case (nil, .some): problems.append("\(path).beginDelimiter is required when endDelimiter is set")
            default: break
            }
        }
        return problems + JobGraph.problems(in: job)
    }

    /// A duration in seconds must be a finite number above 0 (or from 0, when `allowZero`), at most a year.
    private static func secondsProblems(_ seconds: Double?, path: String, allowZero: Bool = false) -> [String] {
        guard let seconds else { return [] }
        let valid = seconds.isFinite && (allowZero ? seconds >= 0 : seconds > 0) && seconds <= 31_536_000
        return valid ? [] : ["\(path) must be a number of seconds \(allowZero ? "from 0" : "above 0") to 31536000"]
    }

    /// How large the parts of a job may be: a job is data to keep and show, not a file store.
    public enum Limits {
        public static let steps = 1000
        /// Names, delimiters and environment variable names, in bytes.
        public static let name = 1024
        /// An environment variable's value, in bytes.
        public static let value = 128 << 10
    }

    private static func lengthProblems(_ text: String?, path: String, limit: Int) -> [String] {
        guard let text, text.utf8.count > limit else { return [] }
        return ["\(path) is \(text.utf8.count) bytes long; at most \(limit) are allowed"]
    }

    private static func environmentProblems(_ environment: [EnvironmentVariable]?, path: String) -> [String] {
        (environment ?? []).enumerated().compactMap { index, variable in
            if variable.variable.isEmpty { return "\(path)[\(index)].variable must not be empty" }
            if variable.variable.contains("=") { return "\(path)[\(index)].variable must not contain \"=\"" }
            if variable.variable.unicodeScalars.contains(where: {
                $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
            }) {
                return "\(path)[\(index)].variable must not contain white space or control characters"
            }
            if variable.variable.utf8.count > Limits.name {
                return
                    "\(path)[\(index)].variable is \(variable.variable.utf8.count) bytes long; at most \(Limits.name) are allowed"
            }
            if variable.value.utf8.count > Limits.value {
                return
                    "\(path)[\(index)].value is \(variable.value.utf8.count) bytes long; at most \(Limits.value) are allowed"
            }
            if variable.variable.utf8.contains(0) || variable.value.utf8.contains(0) {
                return "\(path)[\(index)] must not contain a NUL character"
            }
            return nil
        }
    }

    /// A decoding error in the user's words, naming the field path.
    static func message(for error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "\(fieldPath(context.codingPath + [key])) is required"
        case .valueNotFound(_, let context):
            return "\(fieldPath(context.codingPath)) is required"
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "the job description must be an object" }
            return "\(fieldPath(context.codingPath)) must be \(typeName(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { String(describing: $0) } ?? context.debugDescription
                // YAML's parser adds the source line and a caret below its message: keep one line.
                let reason = detail.split(whereSeparator: \.isNewline).prefix(2).joined(separator: ": ")
                return "the job description is not valid JSON or YAML: \(reason)"
            }
            return "\(fieldPath(context.codingPath)) \(context.debugDescription)"
        @unknown default:
            return "the job description cannot be read: \(error)"
        }
    }

    /// `steps[1].environment[0].value`, from a coding path.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

extension UInt8 {
    fileprivate var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}
