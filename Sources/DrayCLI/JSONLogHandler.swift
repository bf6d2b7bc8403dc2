import Foundation
import Logging
import Synchronization

/// `LOG_FORMAT=json`: one JSON object per line on stderr, for log collectors:
/// `{"time":"…","level":"info","label":"dray","message":"job ended","job":"…","status":"complete"}`.
/// Metadata become fields (the message's own fields win); the text is escaped by the JSON encoder,
/// so a step's output quoted in a message cannot forge a line.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    /// One writer for every handler, so that lines from many tasks never interleave.
    private static let output = Mutex(())

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        if let error = event.error { fields["error"] = "\(error)" }
        fields["time"] = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        fields["level"] = "\(event.level)"
        fields["label"] = label
        fields["source"] = event.source
        fields["message"] = "\(event.message)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(fields) else { return }
        line.append(UInt8(ascii: "\n"))
        Self.output.withLock { _ in
            line.withUnsafeBytes { bytes in
                var written = 0
                while written < bytes.count {
                    let count = write(2, bytes.baseAddress! + written, bytes.count - written)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { return }
                    written += count
                }
            }
        }
    }
}

/// `LOG_FORMAT`: `text` (the default: swift-log's lines) or `json` (``JSONLogHandler``).
enum LogFormat: String {
    case text
    case json

    /// The format, and a warning when the value is neither.
    static func parse(_ text: String?) -> (format: LogFormat, warning: String?) {
        guard let text, !text.isEmpty else { return (.text, nil) }
        if let format = LogFormat(rawValue: text.lowercased()) { return (format, nil) }
        return (.text, "LOG_FORMAT \"\(text)\" is neither text nor json: using text")
    }
}
