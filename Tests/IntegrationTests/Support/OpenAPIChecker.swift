import DrayServer
import Foundation
import Testing
import Yams

/// Checks JSON answers against the OpenAPI description the server serves: the schema of the
/// route, method and status, with `$ref`, `allOf`, types, required properties, enums, minimums
/// and patterns.
// Immutable after init; the dictionary only holds YAML values.
struct OpenAPIChecker: @unchecked Sendable {
    let spec: [String: Any]

    init() throws {
        spec = try #require(try Yams.load(yaml: String(buffer: DrayServer.openAPI)) as? [String: Any])
    }

    /// The problems of `body` as the answer to `method path` with `status`; empty when it conforms.
    func problems(method: String, path: String, status: Int, body: Data) -> [String] {
        guard let paths = spec["paths"] as? [String: Any],
            let operation = (paths[path] as? [String: Any])?[method.lowercased()] as? [String: Any],
            let responses = operation["responses"] as? [String: Any],
            let response = responses[String(status)].map(resolve)
        else { return ["the spec has no \(status) answer for \(method) \(path)"] }
        guard let content = response["content"] as? [String: Any] else {
            return body.isEmpty ? [] : ["the spec says \(status) has no body"]
        }
        guard let schema = (content["application/json"] as? [String: Any])?["schema"] else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return ["the body is not JSON"]
        }
        return check(value, resolve(schema), at: "$")
    }

    private func resolve(_ node: Any) -> [String: Any] {
        guard let object = node as? [String: Any] else { return [:] }
        guard let reference = object["$ref"] as? String else { return object }
        var target: Any = spec
        for part in reference.dropFirst(2).split(separator: "/") {
            target = (target as? [String: Any])?[String(part)] ?? [:]
        }
        return resolve(target)
    }

    private func check(_ value: Any, _ schema: [String: Any], at path: String) -> [String] {
        var problems: [String] = []
        if value is NSNull, schema["nullable"] as? Bool == true { return [] }
        if let all = schema["allOf"] as? [Any] {
            for part in all { problems += check(value, resolve(part), at: path) }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(path): \(value) is not one of \(options)")
        }
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return problems + ["\(path) is not an object"] }
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path).\(key) is missing")
            }
            for (key, property) in schema["properties"] as? [String: Any] ?? [:] {
                if let child = object[key] { problems += check(child, resolve(property), at: "\(path).\(key)") }
            }
        case "array":
            guard let array = value as? [Any] else { return problems + ["\(path) is not an array"] }
            if let items = schema["items"] {
                for (index, item) in array.enumerated() {
                    problems += check(item, resolve(items), at: "\(path)[\(index)]")
                }
            }
        case "string":
            guard let text = value as? String else { return problems + ["\(path) is not a string"] }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path) \"\(text)\" does not match \(pattern)")
            }
            if schema["format"] as? String == "date-time", (try? Date(text, strategy: .iso8601)) == nil,
                (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) == nil
            {
                problems.append("\(path) \"\(text)\" is not a date-time")
            }
        case "integer":
            guard let number = value as? NSNumber, number.doubleValue == number.doubleValue.rounded() else {
                return problems + ["\(path) is not an integer"]
            }
            if let minimum = schema["minimum"] as? Int, number.intValue < minimum {
                problems.append("\(path) is below \(minimum)")
            }
        case "boolean":
            if !(value is Bool) { problems.append("\(path) is not a boolean") }
        default: break
        }
        return problems
    }
}
