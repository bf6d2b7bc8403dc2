import Instrumentation
import Tracing

/// A job's place in a distributed trace, as W3C Trace Context writes it: the `traceparent` a
/// client sends with its submit, and the one each step gets as `TRACEPARENT`.
///
/// Spans go to the process's tracer (`InstrumentationSystem`), which is a no-op unless
/// `dray serve --otlp-endpoint` bootstrapped one: then nothing here costs more than a task-local
/// read, and no step gets a `TRACEPARENT`.
public enum TraceContext {
    /// The header, and the step's variable, that carry a span's context.
    public static let header = "traceparent"
    public static let variable = "TRACEPARENT"

    /// Whether `value` is a `traceparent` as W3C Trace Context writes it:
    /// `VERSION-TRACEID-PARENTID-FLAGS`, lower-case hex of 2, 32, 16 and 2 digits, the ids not
    /// all zeros and the version not `ff`. A later version may add fields after a `-`.
    public static func isValid(_ value: String) -> Bool {
        let fields = value.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[0] != "ff", fields[0] != "00" || fields.count == 4 else { return false }
        let widths = [2, 32, 16, 2]
        for (field, width) in zip(fields, widths) {
            guard field.utf8.count == width, field.utf8.allSatisfy(isLowerHex) else { return false }
        }
        return fields[1].contains { $0 != "0" } && fields[2].contains { $0 != "0" }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// The context a job's span starts in: the caller's trace when it sent a `traceparent`, or a
    /// new trace.
    public static func parent(_ traceParent: String?) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        if let traceParent {
            InstrumentationSystem.instrument.extract(
                [header: traceParent], into: &context, using: Headers())
        }
        return context
    }

    /// The `traceparent` of the current span, or nil without a tracer.
    public static func current() -> String? {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(
            InstrumentationContext.current ?? .topLevel, into: &headers, using: Headers())
        return headers[header]
    }

    /// Reads and writes a context as headers.
    struct Headers: Injector, Extractor {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
            carrier[key] = value
        }

        func extract(key: String, from carrier: [String: String]) -> String? {
            carrier[key]
        }
    }
}

extension Span {
    /// Sets the attribute `key` when `value` is known.
    func record(_ key: String, _ value: Int64?) {
        if let value { attributes[key] = value }
    }

    func record(_ key: String, _ value: Double?) {
        if let value { attributes[key] = value }
    }
}
