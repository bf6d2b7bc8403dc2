import Logging

/// `LOG_FORMAT=text` (the default): swift-log's stderr lines, with every control character in
/// a message or a metadata value written as a visible escape. A step's name, an output path or
/// an error quoted in a message is the job's sender's text: a newline in it must not start a
/// line of the server's log that looks like the server's own.
struct TextLogHandler: LogHandler {
    private var wrapped: StreamLogHandler

    init(label: String, logLevel: Logger.Level) {
        wrapped = StreamLogHandler.standardError(label: label)
        wrapped.logLevel = logLevel
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.mapValues(Self.escaped) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.escaped) }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(VisibleText.escaped("\(event.message)"))"
        event.metadata = event.metadata?.mapValues(Self.escaped)
        wrapped.log(event: event)
    }

    private static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        .string(VisibleText.escaped("\(value)"))
    }
}
