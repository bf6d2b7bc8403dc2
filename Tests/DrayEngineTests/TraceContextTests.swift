import DrayEngine
import Foundation
import Testing

/// The W3C `traceparent` a submit may send, and the `TRACEPARENT` a step gets.
struct TraceContextTests {
    @Test(
        "a traceparent is version-traceid-parentid-flags in lower-case hex, ids not all zeros",
        arguments: [
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
            // A later version may carry more fields; version 00 may not.
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
            ("00-xyz-01", false),
            ("", false),
        ])
    func valid(_ value: String, _ expected: Bool) {
        #expect(TraceContext.isValid(value) == expected)
    }

    @Test("TRACEPARENT joins a step's identity, unless the job sets it; without a tracer there is none")
    func environment() throws {
        let job = try JobDocument.read(
            Data(
                #"{"steps":[{"source":"a"},{"source":"b","environment":[{"variable":"TRACEPARENT","value":"mine"}]}]}"#
                    .utf8)
        ).job
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        #expect(job.environment(forStep: 0, id: "j", attempt: 1, traceParent: parent).last == "TRACEPARENT=\(parent)")
        #expect(job.environment(forStep: 1, id: "j", attempt: 1, traceParent: parent).first == "TRACEPARENT=mine")
        #expect(
            job.environment(forStep: 1, id: "j", attempt: 1, traceParent: parent).filter {
                $0.hasPrefix("TRACEPARENT=")
            }.count == 1)
        #expect(!job.environment(forStep: 0, id: "j", attempt: 1).contains { $0.hasPrefix("TRACEPARENT=") })
        // No tracer is bootstrapped in this process: no span, no context to pass on.
        #expect(TraceContext.current() == nil)
    }
}
