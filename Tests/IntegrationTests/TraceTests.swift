import DrayStoreTesting
import Foundation
import Testing

/// `dray serve --otlp-endpoint`: traces exported over OTLP/HTTP to a receiver on loopback
/// (`Tests/otlp/receiver.py`, which decodes them with the opentelemetry-proto package from
/// PyPI, as a collector would), on the real engine.
@Suite("Traces over OTLP")
struct TraceTests {
    /// The receiver, which writes one span per line as JSON into `spans`.
    static func receiver() async throws -> LoopbackScript {
        try await LoopbackScript("otlp/receiver.py", arguments: ["{folder}/spans"])
    }

    /// Every span received so far.
    static func spans(_ receiver: LoopbackScript) -> [Span] {
        receiver.lines("spans").compactMap { try? JSONDecoder().decode(Span.self, from: Data($0.utf8)) }
    }

    /// The spans of the trace that holds job `id`'s span, once that span and `least` spans of
    /// its trace have come (the exporter sends a batch a second).
    static func trace(_ receiver: LoopbackScript, ofJob id: String, least: Int) async throws -> [Span] {
        for _ in 0..<150 {
            let spans = spans(receiver)
            if let job = spans.first(where: { $0.name == "job" && $0.attributes["dray.job.id"] == .string(id) }) {
                let trace = spans.filter { $0.traceId == job.traceId }
                if trace.count >= least { return trace }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("no trace of job \(id) came: \(spans(receiver).map(\.name))")
        return []
    }

    struct Span: Decodable {
        var traceId: String
        var spanId: String
        var parentSpanId: String
        var name: String
        var status: Int
        var service: String?
        var attributes: [String: Value]

        enum Value: Decodable, Equatable {
            case string(String)
            case number(Double)
            case other

            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let text = try? container.decode(String.self) {
                    self = .string(text)
                } else if let number = try? container.decode(Double.self) {
                    self = .number(number)
                } else {
                    self = .other
                }
            }
        }
    }

    @Test(
        "one trace per job, the job's span a child of the submit's traceparent, step and engine-call spans under it, TRACEPARENT in the same trace"
    )
    func traces() async throws {
        let receiver = try await Self.receiver()
        defer { receiver.stop() }
        let server = try await ServerProcess.started(
            "traces", arguments: ["--otlp-endpoint", "http://127.0.0.1:\(receiver.port)"])
        defer { server.stop() }

        // A chain: step 1 prints its TRACEPARENT, step 2 passes it on.
        let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let callerSpan = "00f067aa0ba902b7"
        let job =
            #"{"name":"traced","steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo $TRACEPARENT"}]},"#
            + #"{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"cat"}]}]}"#
        let submitted = try await server.request(
            .POST, "/jobs", body: job, headers: ["traceparent": "00-\(callerTrace)-\(callerSpan)-01"])
        #expect(submitted.status == 201)
        let id = try #require(submitted.json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete")
        #expect(ended["traceParent"] as? String == "00-\(callerTrace)-\(callerSpan)-01")

        let trace = try await Self.trace(receiver, ofJob: id, least: 8)
        let jobSpan = try #require(trace.first { $0.name == "job" })
        #expect(jobSpan.traceId == callerTrace)
        #expect(jobSpan.parentSpanId == callerSpan)
        #expect(jobSpan.service == "dray")
        #expect(jobSpan.attributes["dray.job.status"] == .string("complete"))
        #expect(jobSpan.attributes["dray.job.name"] == .string("traced"))
        let steps = trace.filter { $0.name.hasPrefix("step ") }.sorted { $0.name < $1.name }
        #expect(steps.map(\.name) == ["step 1", "step 2"])
        for step in steps {
            #expect(step.parentSpanId == jobSpan.spanId, "\(step.name)")
            #expect(step.attributes["dray.step.exit_code"] == .number(0))
            // Each attempt's engine calls (create, start, wait, remove…) are its children.
            let calls = trace.filter { $0.parentSpanId == step.spanId }.map(\.name)
            #expect(calls.contains("docker POST /containers/create"), "\(step.name): \(calls)")
            #expect(calls.contains { $0.hasPrefix("docker POST /containers/{id}/start") }, "\(step.name): \(calls)")
        }
        // Every span of the trace hangs from the job's span or the caller's.
        let ids = Set(trace.map(\.spanId))
        for span in trace where span.name != "job" {
            #expect(ids.contains(span.parentSpanId), "\(span.name) has a parent outside the trace")
        }
        // The step's TRACEPARENT is its own span, in the same trace; its edge's figures are on it.
        let output = String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self)
        let step1 = try #require(steps.first)
        #expect(output == "00-\(callerTrace)-\(step1.spanId)-01\n")
        #expect(step1.attributes["dray.edge.bytes"] == .number(Double(output.utf8.count)))
        #expect(step1.attributes["dray.edge.lines"] == .number(1))

        // A job posted without a traceparent is a trace of its own.
        let other = try #require(
            try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi")).json["id"] as? String)
        #expect(try await server.waitUntilEnded(other)["status"] as? String == "complete")
        let otherTrace = try await Self.trace(receiver, ofJob: other, least: 3)
        let otherJob = try #require(otherTrace.first { $0.name == "job" })
        #expect(otherJob.parentSpanId.isEmpty)
        #expect(otherJob.traceId != callerTrace)
        #expect(otherTrace.contains { $0.name == "step 1" && $0.parentSpanId == otherJob.spanId })

        // A streaming edge's figures: the producer's blocked time, the consumer's wait.
        let streaming =
            #"{"streaming":true,"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"seq 1 20000"}]},"#
            + #"{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"wc -l"}]}]}"#
        let streamed = try #require(try await server.request(.POST, "/jobs", body: streaming).json["id"] as? String)
        #expect(try await server.waitUntilEnded(streamed)["status"] as? String == "complete")
        let streamTrace = try await Self.trace(receiver, ofJob: streamed, least: 3)
        let producer = try #require(streamTrace.first { $0.name == "step 1" })
        let consumer = try #require(streamTrace.first { $0.name == "step 2" })
        #expect(producer.attributes["dray.edge.lines"] == .number(20000))
        #expect(producer.attributes["dray.edge.blocked_seconds"] != nil)
        #expect(consumer.attributes["dray.input.waited_seconds"] != nil)

        // A malformed traceparent is the client's mistake, named.
        let bad = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob("true"), headers: ["traceparent": "00-xyz-01"])
        #expect(bad.status == 400)
        #expect((bad.json["error"] as? String)?.contains("traceparent") == true, "\(bad.json)")
    }

    @Test("without --otlp-endpoint a step gets no TRACEPARENT, and a job's traceparent is only kept")
    func off() async throws {
        let server = try await ServerProcess.started("untraced")
        defer { server.stop() }
        let submitted = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob("echo ${TRACEPARENT-none}"),
            headers: ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
        let id = try #require(submitted.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let output = String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self)
        #expect(output == "none\n")
    }
}
