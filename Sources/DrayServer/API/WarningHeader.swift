import Hummingbird

/// `Warning: 299 - "…"` headers, as Kubernetes answers a request with unknown fields, and
/// kubectl prints them.
enum WarningHeader {
    /// At most this many headers; the body's `warnings` has them all.
    static let limit = 20

    static func fields(for warnings: [String]) -> HTTPFields {
        var texts = Array(warnings.prefix(limit))
        if warnings.count > limit { texts.append("\(warnings.count - limit) more warnings are in the body") }
        var fields = HTTPFields()
        fields[values: .init("Warning")!] = texts.map { "299 - \(quoted($0))" }
        return fields
    }

    /// A quoted-string that carries any text safely: `"` and `\` escaped, and anything but
    /// printable ASCII (a field name is the client's text) written as `\u{…}`.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": result += "\\" + String(scalar)
            case " "..."~": result.unicodeScalars.append(scalar)
            default: result += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return result + "\""
    }
}
