import DrayStoreTesting
import Foundation
import Testing

/// Each step knows where it runs: its job's id and name, its index and name, and its attempt.
@Suite("A step's identity in its environment")
struct StepIdentityTests {
    @Test("a step prints its DRAY_* variables; a job that sets one keeps its own; a retry sees its attempt")
    func identity() async throws {
        let server = try await ServerProcess.started("identity")
        defer { server.stop() }
        let show = "env | grep ^DRAY_ | sort"
        let job =
            #"{"name":"who","steps":[{"name":"first","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"\#(show)"}]},"#
            + #"{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"cat; \#(show)"},{"variable":"DRAY_STEP_NAME","value":"mine"}]},"#
            // Fails its first attempt: the second sees DRAY_ATTEMPT=2.
            + #"{"name":"third","source":"dray-test/sh","retries":1,"retryDelay":0.1,"environment":[{"variable":"SCRIPT","value":"cat; [ $DRAY_ATTEMPT = 2 ] || exit 3; echo attempt $DRAY_ATTEMPT"}]}]}"#
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let output = String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self)
        let expected = [
            "DRAY_ATTEMPT=1", "DRAY_JOB_ID=\(id)", "DRAY_JOB_NAME=who", "DRAY_STEP_INDEX=1", "DRAY_STEP_NAME=first",
            "DRAY_ATTEMPT=1", "DRAY_JOB_ID=\(id)", "DRAY_JOB_NAME=who", "DRAY_STEP_INDEX=2", "DRAY_STEP_NAME=mine",
            "attempt 2",
        ]
        #expect(output == expected.map { $0 + "\n" }.joined(), "\(output)")
    }
}
