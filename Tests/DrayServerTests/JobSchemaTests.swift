import DrayEngine
import DrayServer
import Foundation
import NIOCore
import Testing
import Yams

/// The JSON Schema served at `/schema/job.json` and Dray's decoder agree: what the decoder
/// reads the schema accepts, and what the decoder refuses for a type or a range the schema
/// refuses too.
@Suite("The job schema against the decoder")
struct JobSchemaTests {
    /// The schema, read afresh by each test (a parsed `[String: Any]` cannot be shared safely).
    static var schema: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(DrayServer.jobSchema.readableBytesView))) as? [String: Any]
            ?? [:]
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Valid jobs: the examples, the seed's README jobs, and one that uses every field.
    static var validJobs: [String] {
        let examples = (try? FileManager.default.contentsOfDirectory(atPath: root.path + "/examples")) ?? []
        let files = examples.filter { $0.hasSuffix(".json") || $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .filter { !$0.hasPrefix("docker-compose") }
        return files.sorted().map {
            try! String(contentsOf: root.appendingPathComponent("examples/" + $0), encoding: .utf8)
        }
            + [
                #"{"name":"aws=fleet","environment":[{"variable":"AWS_ACCESS_KEY_ID","value":"xxxxxx"}],"steps":[{"name":"Step 1","source":"centurylink/cluster-deploy:aws.fleet"},{"name":"Step 2","source":"centurylink/cluster-deploy:agent"},{"name":"Step 3","source":"centurylink/remote-agent-install:latest"}]}"#,
                #"{"steps":[{"source":"jdoe/foo","output":"stderr"},{"source":"jdoe/bar"}]}"#,
                #"{"steps":[{"source":"jdoe/foo","output":"/output.txt"},{"source":"jdoe/bar"}]}"#,
                #"{"id":"X","status":"running","stepsCompleted":0,"name":"all","timeout":60,"streaming":false,"environment":[{"variable":"A","value":""}],"steps":[{"name":"s","source":"registry:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000","environment":[{"variable":"B","value":"b"}],"output":"/out/a..b/file","refresh":true,"beginDelimiter":"BEGIN","endDelimiter":"END","timeout":0.5,"retries":100,"retryDelay":0,"stopGracePeriod":0,"command":["-c","echo hi"],"entrypoint":["/bin/sh"],"workingDir":"/tmp","user":"1000:1000","memory":"512m","cpus":1.5,"pidsLimit":64,"network":"none"}]}"#,
                #"{"steps":[{"source":"x","memory":67108864,"user":"nobody","network":"my-net.1"}]}"#,
                "steps:\n  - source: dray/upper\n    retries: 0\n    timeout: 31536000\n",
            ]
    }

    /// Jobs the decoder refuses for a type or a range: each field with each wrong JSON type,
    /// and each range's edges.
    static var refusedJobs: [String] {
        let wrong: [String: [String]] = [
            "string": ["3", "true", "[]", "{}"], "number": [#""3""#, "true", "[]"],
            "integer": [#""3""#, "true", "1.5"],
            "boolean": [#""true""#, "1", "[]"], "array": [#""x""#, "3", "{}"], "object": [#""x""#, "3", "[]"],
        ]
        let jobFields = [
            "name": "string", "timeout": "number", "streaming": "boolean", "environment": "array", "steps": "array",
        ]
        let stepFields = [
            "name": "string", "source": "string", "environment": "array", "output": "string", "refresh": "boolean",
            "beginDelimiter": "string", "endDelimiter": "string", "timeout": "number", "retries": "integer",
            "retryDelay": "number", "stopGracePeriod": "number", "command": "array", "entrypoint": "array",
            "workingDir": "string", "user": "string", "cpus": "number", "pidsLimit": "integer", "network": "string",
        ]
        var jobs: [String] = []
        for (field, type) in jobFields {
            for value in wrong[type]! where !(field == "environment" && value == "{}") {
                jobs.append(
                    #"{"steps":[{"source":"x"}],"\#(field)":\#(value)}"#.replacingOccurrences(
                        of: #"{"steps":[{"source":"x"}],"steps":"#, with: #"{"steps":"#))
            }
        }
        for (field, type) in stepFields {
            for value in wrong[type]! {
                let step = field == "source" ? #"{"source":\#(value)}"# : #"{"source":"x","\#(field)":\#(value)}"#
                jobs.append(#"{"steps":[\#(step)]}"#)
            }
        }
        for value in ["3", "true", "[]", "{}"] {
            jobs.append(#"{"steps":[{"source":"x","environment":[{"variable":\#(value),"value":"1"}]}]}"#)
            jobs.append(#"{"steps":[{"source":"x","environment":[{"variable":"A","value":\#(value)}]}]}"#)
        }
        let ranges = [
            #"{"steps":[]}"#, #"{"steps":[{"source":""}]}"#, #"{"steps":[{"source":"  "}]}"#,
            #"{"timeout":0,"steps":[{"source":"x"}]}"#, #"{"timeout":-1,"steps":[{"source":"x"}]}"#,
            #"{"timeout":31536001,"steps":[{"source":"x"}]}"#, #"{"steps":[{"source":"x","timeout":0}]}"#,
            #"{"steps":[{"source":"x","retries":-1}]}"#, #"{"steps":[{"source":"x","retries":101}]}"#,
            #"{"steps":[{"source":"x","retryDelay":-0.5}]}"#, #"{"steps":[{"source":"x","stopGracePeriod":-1}]}"#,
            #"{"steps":[{"source":"x","stopGracePeriod":31536001}]}"#,
            #"{"steps":[{"source":"x","workingDir":"rel"}]}"#, #"{"steps":[{"source":"x","user":"a b"}]}"#,
            #"{"steps":[{"source":"x","memory":1000}]}"#, #"{"steps":[{"source":"x","memory":"12q"}]}"#,
            #"{"steps":[{"source":"x","memory":true}]}"#, #"{"steps":[{"source":"x","memory":[]}]}"#,
            #"{"steps":[{"source":"x","cpus":0}]}"#, #"{"steps":[{"source":"x","cpus":2000}]}"#,
            #"{"steps":[{"source":"x","pidsLimit":0}]}"#, #"{"steps":[{"source":"x","network":"host"}]}"#,
            #"{"steps":[{"source":"x","network":"container:abc"}]}"#, #"{"steps":[{"source":"x","command":[1]}]}"#,
            #"{"steps":[{"source":"x","output":"out.txt"}]}"#, #"{"steps":[{"source":"x","output":"/"}]}"#,
            #"{"steps":[{"source":"x","output":"/a/"}]}"#, #"{"steps":[{"source":"x","output":"/a/../b"}]}"#,
            #"{"steps":[{"source":"x","output":"/.."}]}"#,
            #"{"steps":[{"source":"x","beginDelimiter":"B"}]}"#, #"{"steps":[{"source":"x","endDelimiter":"E"}]}"#,
            #"{"environment":[{"variable":"","value":"1"}],"steps":[{"source":"x"}]}"#,
            #"{"environment":[{"variable":"A=B","value":"1"}],"steps":[{"source":"x"}]}"#,
            #"{"environment":[{"variable":"A"}],"steps":[{"source":"x"}]}"#, #"{"name":"x"}"#, "[]", "3",
            #"{"environment":[{"variable":"A B","value":"1"}],"steps":[{"source":"x"}]}"#,
            #"{"environment":[{"variable":"A\nB","value":"1"}],"steps":[{"source":"x"}]}"#,
            #"{"name":"\#(String(repeating: "n", count: 1025))","steps":[{"source":"x"}]}"#,
            #"{"steps":[\#(Array(repeating: #"{"source":"x"}"#, count: 1001).joined(separator: ","))]}"#,
        ]
        return jobs + ranges
    }

    @Test("every valid job passes the schema", arguments: validJobs)
    func valid(_ text: String) throws {
        let reading = try JobDocument.read(Data(text.utf8), strict: true)
        #expect(reading.warnings.isEmpty)
        let value = try #require(try Yams.load(yaml: text))
        #expect(SchemaChecker(root: Self.schema).errors(value).isEmpty, "\(text)")
    }

    @Test("every job the decoder refuses for a type or a range, the schema refuses", arguments: refusedJobs)
    func refused(_ text: String) throws {
        #expect(!JobDocument.inspect(Data(text.utf8)).problems.isEmpty, "the decoder accepted \(text)")
        let value = try #require(try Yams.load(yaml: text))
        #expect(!SchemaChecker(root: Self.schema).errors(value).isEmpty, "the schema accepted \(text)")
    }

    @Test("an unknown field, a warning for the server, is an error for the schema")
    func unknownField() throws {
        let text = #"{"steps":[{"source":"x","ouput":"stderr"}]}"#
        #expect(JobDocument.inspect(Data(text.utf8)).warnings.count == 1)
        #expect(!SchemaChecker(root: Self.schema).errors(try #require(try Yams.load(yaml: text))).isEmpty)
    }

    @Test("the schema describes every field the decoder reads, each with a description")
    func described() throws {
        let properties = try #require(Self.schema["properties"] as? [String: [String: Any]])
        let defs = try #require(Self.schema["$defs"] as? [String: [String: Any]])
        let step = try #require(defs["step"]?["properties"] as? [String: [String: Any]])
        let variable = try #require(defs["variable"]?["properties"] as? [String: [String: Any]])
        for (name, fields) in [("job", properties), ("step", step), ("variable", variable)] {
            for (field, node) in fields {
                #expect(node["description"] is String, "\(name).\(field) has no description")
            }
        }
        // Each field the schema names for a step is one the decoder reads: no warning for it.
        for field in step.keys {
            let text = #"{"steps":[{"source":"x","\#(field)":null}]}"#
            #expect(JobDocument.inspect(Data(text.utf8)).warnings.isEmpty, "the decoder does not read \(field)")
        }
    }
}

/// Checks a value against the draft 2020-12 keywords the job schema uses.
struct SchemaChecker {
    let root: [String: Any]

    func errors(_ value: Any) -> [String] { errors(value, root, at: "$") }

    private func resolve(_ node: Any) -> [String: Any] {
        guard var object = node as? [String: Any] else { return [:] }
        if let reference = object["$ref"] as? String, reference.hasPrefix("#/$defs/") {
            let target = (root["$defs"] as? [String: Any])?[String(reference.dropFirst(8))] as? [String: Any] ?? [:]
            object.removeValue(forKey: "$ref")
            object.merge(target) { mine, _ in mine }
        }
        return object
    }

    private func errors(_ value: Any, _ node: Any, at path: String) -> [String] {
        let schema = resolve(node)
        var problems: [String] = []
        if let options = schema["anyOf"] as? [Any], !options.contains(where: { errors(value, $0, at: path).isEmpty }) {
            problems.append("\(path) matches none of anyOf")
        }
        if let options = schema["enum"] as? [String],
            !options.contains(where: { ($0 as Any as? String) == (value as? String) })
        {
            problems.append("\(path) is not one of \(options)")
        }
        let number: Double? = (value is Bool) ? nil : (value as? Int).map(Double.init) ?? (value as? Double)
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return problems + ["\(path) is not an object"] }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path).\(key) is missing")
            }
            for (key, needs) in schema["dependentRequired"] as? [String: [String]] ?? [:] where object[key] != nil {
                for other in needs where object[other] == nil { problems.append("\(path).\(other) is missing") }
            }
            for (key, child) in object {
                if let property = properties[key] {
                    problems += errors(child, property, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path).\(key) is not allowed")
                }
            }
        case "array":
            guard let array = value as? [Any] else { return problems + ["\(path) is not an array"] }
            if let minimum = schema["minItems"] as? Int, array.count < minimum {
                problems.append("\(path) is too short")
            }
            if let maximum = schema["maxItems"] as? Int, array.count > maximum {
                problems.append("\(path) is too long")
            }
            if let items = schema["items"] {
                for (index, item) in array.enumerated() { problems += errors(item, items, at: "\(path)[\(index)]") }
            }
        case "string":
            guard let text = value as? String else { return problems + ["\(path) is not a string"] }
            if let minimum = schema["minLength"] as? Int, text.count < minimum {
                problems.append("\(path) is too short")
            }
            if let maximum = schema["maxLength"] as? Int, text.count > maximum {
                problems.append("\(path) is too long")
            }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path) does not match \(pattern)")
            }
        case "number", "integer":
            guard let number else { return problems + ["\(path) is not a number"] }
            if schema["type"] as? String == "integer", number != number.rounded() {
                problems.append("\(path) is not an integer")
            }
            if let minimum = schema["minimum"] as? Double, number < minimum { problems.append("\(path) < \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number > maximum { problems.append("\(path) > \(maximum)") }
            if let bound = schema["exclusiveMinimum"] as? Double, number <= bound {
                problems.append("\(path) <= \(bound)")
            }
        case "boolean":
            if !(value is Bool) { problems.append("\(path) is not a boolean") }
        default: break
        }
        return problems
    }
}
