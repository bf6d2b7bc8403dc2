import Foundation

/// A stored job with parameters: `PUT /templates/{name}` keeps each version, and a run
/// (`POST /templates/{name}/runs`) checks its `params` against ``parameters`` and substitutes
/// `${{ params.NAME }}` in the job's name, environment values, commands and entrypoints only:
/// never in a step's `source`, and never evaluated as code.
public struct JobTemplate: Codable, Sendable, Equatable {
    public var name: String
    /// From 1; each `PUT` adds one.
    public var version: Int
    public var createdAt: Date
    public var job: Job
    public var parameters: TemplateParameters

    public init(name: String, version: Int = 0, createdAt: Date = Date(), job: Job, parameters: TemplateParameters) {
        self.name = name
        self.version = version
        self.createdAt = createdAt
        self.job = job
        self.parameters = parameters
    }

    /// What `PUT /templates/{name}` takes.
    public struct Definition: Decodable, Sendable {
        public var job: Job
        public var parameters: TemplateParameters?

        enum CodingKeys: String, CodingKey, CaseIterable { case job, parameters }

        public init(from decoder: any Decoder) throws {
            try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a template")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            job = try container.decode(Job.self, forKey: .job)
            parameters = try container.decodeIfPresent(TemplateParameters.self, forKey: .parameters)
        }
    }

    /// What `POST /templates/{name}/runs` takes: the parameters' values.
    public struct Run: Decodable, Sendable {
        public var params: [String: ParameterValue]?

        enum CodingKeys: String, CodingKey, CaseIterable { case params }

        public init(from decoder: any Decoder) throws {
            try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a template's run")
            params = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(
                [String: ParameterValue].self, forKey: .params)
        }
    }

    /// A template's name: 1 to 100 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
    public static func nameProblem(_ name: String) -> String? {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")].contains(byte)
        }
        guard (1...100).contains(name.utf8.count), allowed, let first = name.first, first.isLetter || first.isNumber
        else {
            return
                "a template's name must be 1 to 100 letters, digits, \".\", \"_\" or \"-\", starting with a letter or digit, not \"\(name.prefix(100))\""
        }
        return nil
    }

    /// What is wrong with a template's job and parameters, each naming its field: the job's own
    /// problems once every parameter is its default (or an example of its type), a placeholder
    /// outside the fields that take them, or one that names no parameter.
    public static func problems(job: Job, parameters: TemplateParameters) -> [String] {
        var problems = parameters.problems()
        for (path, text) in Placeholders.fields(of: job) {
            for name in Placeholders.names(in: text) where parameters.properties[name] == nil {
                problems.append(
                    "\(path) uses ${{ params.\(name) }}, which is not a parameter: add it to parameters.properties")
            }
        }
        for (index, step) in job.steps.enumerated() where !Placeholders.names(in: step.source).isEmpty {
            problems.append(
                "job.steps[\(index)].source cannot take a parameter: a template substitutes them in the job's name, environment values, commands and entrypoints only"
            )
        }
        if problems.isEmpty {
            let example = parameters.properties.mapValues { $0.default ?? $0.type.example }
            problems += JobDocument.problems(in: Placeholders.substitute(example, in: job)).map { "job." + $0 }
        }
        return problems
    }

    /// The job of a run with `params`: checked (each problem names `params.NAME`), the defaults
    /// filled in, and substituted.
    public func job(with params: [String: ParameterValue]) throws(DrayError) -> Job {
        var problems: [String] = []
        var values: [String: ParameterValue] = [:]
        for name in params.keys.sorted() where parameters.properties[name] == nil {
            let known = parameters.properties.keys.sorted().joined(separator: ", ")
            problems.append(
                "params.\(name) is not a parameter of template \(self.name)"
                    + (known.isEmpty ? "" : "; it takes \(known)"))
        }
        for (name, parameter) in parameters.properties.sorted(by: { $0.key < $1.key }) {
            if let value = params[name] {
                if let problem = parameter.problem(with: value) {
                    problems.append("params.\(name) \(problem)")
                } else {
                    values[name] = value
                }
            } else if let value = parameter.default {
                values[name] = value
            } else if parameters.required?.contains(name) == true {
                problems.append("params.\(name) is required")
            } else {
                values[name] = .string("")
            }
        }
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        var job = Placeholders.substitute(values, in: job)
        job.id = nil
        return job
    }
}

/// Which template, and which version of it, a job was made from.
public struct TemplateReference: Codable, Sendable, Equatable {
    public var name: String
    public var version: Int

    public init(name: String, version: Int) {
        self.name = name
        self.version = version
    }
}

/// A template's parameters, as a JSON Schema object: `properties` (each a ``TemplateParameter``)
/// and `required`.
public struct TemplateParameters: Codable, Sendable, Equatable {
    public var type: String?
    public var properties: [String: TemplateParameter]
    public var required: [String]?

    public init(properties: [String: TemplateParameter] = [:], required: [String]? = nil) {
        type = "object"
        self.properties = properties
        self.required = required
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case type, properties, required }

    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "parameters")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        properties = try container.decodeIfPresent([String: TemplateParameter].self, forKey: .properties) ?? [:]
        required = try container.decodeIfPresent([String].self, forKey: .required)
    }

    func problems() -> [String] {
        var problems: [String] = []
        if let type, type != "object" { problems.append("parameters.type must be \"object\", not \"\(type)\"") }
        if properties.count > 100 { problems.append("parameters.properties must hold at most 100 parameters") }
        for (name, parameter) in properties.sorted(by: { $0.key < $1.key }) {
            if !Placeholders.isName(name) {
                problems.append(
                    "parameters.properties.\(name.prefix(100)) must be named with letters, digits and \"_\", starting with a letter or \"_\""
                )
            }
            problems += parameter.problems(at: "parameters.properties.\(name)")
        }
        for name in required ?? [] where properties[name] == nil {
            problems.append("parameters.required names \(name.prefix(100)), which is not in parameters.properties")
        }
        return problems
    }
}

/// One parameter: its type, and optionally a default, a pattern (strings), a range (numbers)
/// or the values it may take.
public struct TemplateParameter: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case string, integer, number, boolean

        /// A value of the type, to check a template's job with.
        var example: ParameterValue {
            switch self {
            case .string: .string("x")
            case .integer: .integer(1)
            case .number: .number(1)
            case .boolean: .bool(true)
            }
        }
    }

    public var type: Kind
    public var description: String?
    public var `default`: ParameterValue?
    public var pattern: String?
    public var minimum: Double?
    public var maximum: Double?
    public var maxLength: Int?
    public var `enum`: [ParameterValue]?

    public init(type: Kind, default value: ParameterValue? = nil, pattern: String? = nil) {
        self.type = type
        self.default = value
        self.pattern = pattern
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, description, `default`, pattern, minimum, maximum, maxLength, `enum`
    }

    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a parameter")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(Kind.self, forKey: .type)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        self.default = try container.decodeIfPresent(ParameterValue.self, forKey: .default)
        pattern = try container.decodeIfPresent(String.self, forKey: .pattern)
        minimum = try container.decodeIfPresent(Double.self, forKey: .minimum)
        maximum = try container.decodeIfPresent(Double.self, forKey: .maximum)
        maxLength = try container.decodeIfPresent(Int.self, forKey: .maxLength)
        self.enum = try container.decodeIfPresent([ParameterValue].self, forKey: .enum)
    }

    func problems(at path: String) -> [String] {
        var problems: [String] = []
        if let pattern, (try? Regex(pattern)) == nil {
            problems.append("\(path).pattern is not a regular expression: \(pattern.prefix(200))")
        }
        if pattern != nil || maxLength != nil, type != .string {
            problems.append("\(path): pattern and maxLength apply to a string")
        }
        if minimum != nil || maximum != nil, type != .integer && type != .number {
            problems.append("\(path): minimum and maximum apply to an integer or a number")
        }
        if let value = self.default, let problem = problem(with: value) {
            problems.append("\(path).default \(problem)")
        }
        return problems
    }

    /// Why `value` is not a value of this parameter, or nil.
    func problem(with value: ParameterValue) -> String? {
        switch (type, value) {
        case (.string, .string(let text)):
            if let maxLength, text.count > maxLength { return "must be at most \(maxLength) characters" }
            if text.utf8.count > 4096 { return "must be at most 4096 bytes" }
            if let pattern, let regex = try? Regex(pattern), (try? regex.wholeMatch(in: text)) == nil {
                return "must match \(pattern), not \"\(text.prefix(100))\""
            }
        case (.integer, .integer(let number)):
            if let problem = rangeProblem(Double(number)) { return problem }
        case (.number, .integer(let number)):
            if let problem = rangeProblem(Double(number)) { return problem }
        case (.number, .number(let number)):
            if let problem = rangeProblem(number) { return problem }
        case (.boolean, .bool):
            break
        default:
            return "must be \(type == .integer ? "an integer" : type == .boolean ? "a boolean" : "a \(type.rawValue)")"
        }
        if let values = self.enum, !values.contains(value) {
            return "must be one of \(values.map(\.text).joined(separator: ", "))"
        }
        return nil
    }

    private func rangeProblem(_ number: Double) -> String? {
        if let minimum, number < minimum { return "must be at least \(ParameterValue.number(minimum).text)" }
        if let maximum, number > maximum { return "must be at most \(ParameterValue.number(maximum).text)" }
        return nil
    }
}

/// A parameter's value: a JSON string, integer, number or boolean.
public enum ParameterValue: Codable, Sendable, Equatable {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a parameter's value must be a string, a number or a boolean")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }

    /// As it is substituted: the text, or the number or boolean as JSON writes it.
    public var text: String {
        switch self {
        case .string(let value): value
        case .integer(let value): String(value)
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value): String(value)
        }
    }
}

/// `${{ params.NAME }}` in a template's job: where it may stand, and its substitution, which
/// is plain text (the value is never read as a placeholder or as code).
enum Placeholders {
    nonisolated(unsafe) static let pattern = #/\$\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/#

    static func isName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
        }
    }

    /// The parameters `text` names.
    static func names(in text: String) -> [String] {
        text.matches(of: pattern).map { String($0.output.1) }
    }

    /// `text` with each placeholder replaced by its value, in one pass.
    static func substitute(_ values: [String: ParameterValue], in text: String) -> String {
        text.replacing(pattern) { match in values[String(match.output.1)]?.text ?? "" }
    }

    /// Every field that takes placeholders, with its path.
    static func fields(of job: Job) -> [(String, String)] {
        var fields: [(String, String)] = []
        if let name = job.name { fields.append(("job.name", name)) }
        for (index, variable) in (job.environment ?? []).enumerated() {
            fields.append(("job.environment[\(index)].value", variable.value))
        }
        for (index, step) in job.steps.enumerated() {
            for (item, variable) in (step.environment ?? []).enumerated() {
                fields.append(("job.steps[\(index)].environment[\(item)].value", variable.value))
            }
            for (item, word) in (step.options.command ?? []).enumerated() {
                fields.append(("job.steps[\(index)].command[\(item)]", word))
            }
            for (item, word) in (step.options.entrypoint ?? []).enumerated() {
                fields.append(("job.steps[\(index)].entrypoint[\(item)]", word))
            }
        }
        return fields
    }

    /// `job` with its placeholders substituted where they may stand.
    static func substitute(_ values: [String: ParameterValue], in job: Job) -> Job {
        func environment(_ variables: [EnvironmentVariable]?) -> [EnvironmentVariable]? {
            variables?.map {
                EnvironmentVariable(variable: $0.variable, value: substitute(values, in: $0.value), secret: $0.secret)
            }
        }
        var job = job
        job.name = job.name.map { substitute(values, in: $0) }
        job.environment = environment(job.environment)
        for index in job.steps.indices {
            job.steps[index].environment = environment(job.steps[index].environment)
            job.steps[index].options.command = job.steps[index].options.command?.map { substitute(values, in: $0) }
            job.steps[index].options.entrypoint = job.steps[index].options.entrypoint?.map {
                substitute(values, in: $0)
            }
        }
        return job
    }
}

/// Where templates are kept, every version of each.
public protocol TemplateStore: Sendable {
    /// Stores `template` as the next version of its name (1 for a new one), whatever other
    /// nodes store at once; returns it with its version.
    func putTemplate(_ template: JobTemplate) async throws -> JobTemplate
    /// Version `version` of a template, or its latest when nil; nil when there is none.
    func template(name: String, version: Int?) async throws -> JobTemplate?
    /// The latest version of every template, by name.
    func templates() async throws -> [JobTemplate]
    /// Deletes every version of a template; false when there was none.
    func deleteTemplate(name: String) async throws -> Bool
}
