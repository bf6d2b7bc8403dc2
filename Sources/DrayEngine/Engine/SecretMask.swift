import Foundation

/// Shows each secret value in a log line as `***`, as CI systems mask secrets.
struct SecretMask: Sendable {
    /// The values, longest first, so that a secret that contains another is masked whole; a
    /// value of several lines is masked line by line too, as the log is split at LF.
    private let values: [String]

    init(_ secrets: [String]) {
        let pieces = secrets.flatMap { [$0] + $0.split(separator: "\n").map(String.init) }
        values = Set(pieces.filter { !$0.isEmpty }).sorted { $0.utf8.count > $1.utf8.count }
    }

    var isEmpty: Bool { values.isEmpty }

    /// `line` with every secret replaced by `***`; as it was when there are no secrets.
    func apply(_ line: [UInt8]) -> [UInt8] {
        guard !values.isEmpty else { return line }
        let text = String(repairingUTF8: line)
        let masked = apply(text)
        return masked == text ? line : Array(masked.utf8)
    }

    /// `lines` of one step's stream as log lines, masked. (Not in the generic step logger: a
    /// closure there looked up the logger's generic type for every line.)
    func logLines(_ lines: [[UInt8]], step: Int, stream: StandardStream) -> [LogLine] {
        lines.map { LogLine(step: step, stream: stream, bytes: apply($0)) }
    }

    func apply(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        var text = text
        for value in values where text.contains(value) { text = text.replacingOccurrences(of: value, with: "***") }
        return text
    }
}
