import Foundation
import Testing

/// Pipe graphs on the real engine, in both modes: `dray run` for the bytes, `dray serve` for
/// the steps' states and resume.
@Suite("Pipe graphs on the real engine")
struct GraphTests {
    /// A step of the test image running `script`, as YAML (one line of a `steps:` list).
    static func step(
        _ name: String, _ script: String, needs: [String]? = nil, extra: String = ""
    ) -> String {
        let needs = needs.map { ", needs: [\($0.joined(separator: ", "))]" } ?? ""
        let quoted = script.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return
            "  - { name: \(name), source: dray-test/sh\(needs)\(extra), environment: [{ variable: SCRIPT, value: \"\(quoted)\" }] }"
    }

    static func job(streaming: Bool, _ steps: String...) throws -> String {
        try RunCommandTests.jobFile("streaming: \(streaming)\nsteps:\n" + steps.joined(separator: "\n") + "\n")
    }

    /// The lines of `text` of stderr that a step wrote there: `[name:err] …`.
    static func said(_ stderr: String, by name: String) -> [String] {
        stderr.split(separator: "\n").filter { $0.hasPrefix("[\(name):err] ") }.map {
            String($0.dropFirst(name.count + 7))
        }
    }

    @Test("two branches that each sleep 2 s run side by side", arguments: [false, true])
    func sideBySide(streaming: Bool) async throws {
        let server = try await ServerProcess.started("graph-side")
        defer { server.stop() }
        let job =
            #"{"streaming":\#(streaming),"steps":["#
            + #"{"name":"a","source":"dray-test/sh","needs":[],"environment":[{"variable":"SCRIPT","value":"sleep 2; echo a"}]},"#
            + #"{"name":"b","source":"dray-test/sh","needs":[],"environment":[{"variable":"SCRIPT","value":"sleep 2; echo b"}]}]}"#
        let submitted = try await server.request(.POST, "/jobs", body: job)
        #expect(submitted.status == 201, "\(String(decoding: submitted.body, as: UTF8.self))")
        let id = try #require(submitted.json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete")
        let steps = try #require(ended["steps"] as? [[String: Any]])
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let starts = steps.compactMap { ($0["startedAt"] as? String).flatMap(formatter.date) }
        let ends = steps.compactMap { ($0["finishedAt"] as? String).flatMap(formatter.date) }
        #expect(starts.count == 2 && ends.count == 2)
        let span = try #require(ends.max()).timeIntervalSince(try #require(starts.min()))
        // Side by side: each started before the other ended. (How long they took together is
        // the benchmark's to say: on a loaded machine a container's start takes seconds.)
        #expect(try #require(starts.max()) < (try #require(ends.min())), "the branches did not overlap")
        print("graph: two branches of 2 s ran side by side in \(span) s (streaming: \(streaming))")
        #expect(steps.map { $0["status"] as? String } == ["complete", "complete"])
    }

    @Test(
        "a diamond on 100 MB of text lines: split, then upper and md5 side by side, joined by concat",
        arguments: [false, true])
    func diamond(streaming: Bool) async throws {
        let text = "yes 'the quick brown fox jumps over the lazy dog' | head -c 104857600"
        let job = try Self.job(
            streaming: streaming,
            Self.step("split", text, needs: []),
            Self.step("upper", "tr a-z A-Z", needs: ["split"]),
            Self.step("md5", "md5sum", needs: ["split"]),
            Self.step("join", "cat", needs: ["upper", "md5"]))
        let result = try await DrayProcess.run(["run", "-q", job])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try await Shell.check([
            "sh", "-c", "{ \(text) | tr a-z A-Z; \(text) | md5sum; } | sha256sum",
        ])
        let got = try await Shell.check(["sh", "-c", "sha256sum < \"$0\"", result.stdoutPath])
        #expect(got == expected, "streaming: \(streaming)")
        let size = try FileManager.default.attributesOfItem(atPath: result.stdoutPath)[.size] as? Int
        #expect(size == 104_857_600 + 36, "the text, then md5sum's line")
    }

    @Test("files fan-in: each input byte-exact under its name", arguments: [false, true])
    func filesFanIn(streaming: Bool) async throws {
        let job = try Self.job(
            streaming: streaming,
            Self.step("one", "head -c 3000000 /dev/urandom > /tmp/d; sha256sum < /tmp/d >&2; cat /tmp/d", needs: []),
            Self.step("two", "head -c 1234567 /dev/urandom > /tmp/d; sha256sum < /tmp/d >&2; cat /tmp/d", needs: []),
            Self.step(
                "both", "sha256sum < /dray/inputs/one; sha256sum < /dray/inputs/two; wc -c < /dev/stdin",
                needs: ["one", "two"], extra: ", inputs: files"))
        let result = try await DrayProcess.run(["run", job])
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        let sums = Self.said(result.stderr, by: "one") + Self.said(result.stderr, by: "two")
        let output = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(output == sums + ["0"], "each file as its producer wrote it, and stdin empty")
    }

    @Test(
        "a failed branch: the failure step runs, the steps that needed it are skipped, the job is in error",
        arguments: [false, true])
    func failureBranch(streaming: Bool) async throws {
        let server = try await ServerProcess.started("graph-failure")
        defer { server.stop() }
        func step(_ name: String, _ script: String, _ needs: [String], when: String? = nil) -> String {
            let condition = when.map { #","when":"\#($0)""# } ?? ""
            let list = needs.map { "\"\($0)\"" }.joined(separator: ",")
            return
                #"{"name":"\#(name)","source":"dray-test/sh","needs":[\#(list)]\#(condition),"environment":[{"variable":"SCRIPT","value":"\#(script)"}]}"#
        }
        let job =
            #"{"streaming":\#(streaming),"steps":["#
            + [
                step("start", "echo go", []), step("broken", "exit 3", ["start"]), step("fine", "cat", ["start"]),
                step("after", "cat", ["broken"]), step("cleanup", "echo cleaned", ["broken"], when: "failure"),
                step("report", "echo reported", ["fine", "after"], when: "always"),
            ].joined(separator: ",") + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "error")
        #expect(ended["error"] as? String == #"step 2 "broken" exited with code 3"#)
        let steps = try #require(ended["steps"] as? [[String: Any]])
        let statuses = steps.map { $0["status"] as? String }
        #expect(steps[1]["exitCode"] as? Int == 3)
        if streaming {
            // The failure stopped the streamed steps (those that had not ended are canceled);
            // then the failure and always steps ran on the spools.
            #expect(statuses[1] == "failed" && statuses[4] == "complete" && statuses[5] == "complete", "\(statuses)")
        } else {
            #expect(statuses == ["complete", "failed", "complete", "skipped", "complete", "complete"])
            #expect(ended["stepsCompleted"] as? Int == 4 && steps[3]["startedAt"] == nil)
        }
        let cleanup = try await server.request(.GET, "/jobs/\(id)/log?step=cleanup").json["lines"] as? [String]
        #expect(cleanup == ["cleaned"])
        let typo = try await server.request(.GET, "/jobs/\(id)/log?step=claenup")
        #expect(typo.status == 400)
        #expect((typo.json["error"] as? String)?.contains(#"did you mean "cleanup"?"#) == true)
    }

    @Test("resume reruns only the failed branch, on the spooled output of the rest")
    func resume() async throws {
        // The failing step's image fails until it is tagged again as one that passes its input on.
        let tag = "dray-test/flaky:\(UUID().uuidString.prefix(8).lowercased())"
        try await Shell.check(
            ["sh", "-c", "printf 'FROM dray-test/sh\\nENV SCRIPT=\"exit 4\"\\n' | docker build -q -t \(tag) -"])
        defer { Task { try? await Shell.run(["docker", "rmi", "-f", tag]) } }
        let server = try await ServerProcess.started("graph-resume")
        defer { server.stop() }
        let job =
            #"{"steps":["#
            + #"{"name":"start","source":"dray-test/sh","needs":[],"environment":[{"variable":"SCRIPT","value":"echo go; date +%s%N >&2"}]},"#
            + #"{"name":"good","source":"dray-test/sh","needs":["start"],"environment":[{"variable":"SCRIPT","value":"tr a-z A-Z; echo ran good >&2"}]},"#
            + #"{"name":"flaky","source":"\#(tag)","needs":["start"]},"#
            + #"{"name":"join","source":"dray-test/sh","needs":["good","flaky"],"environment":[{"variable":"SCRIPT","value":"cat"}]}]}"#
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        let first = try await server.waitUntilEnded(id)
        #expect(first["status"] as? String == "error")
        let before = try #require(first["steps"] as? [[String: Any]])
        #expect(before.map { $0["status"] as? String } == ["complete", "complete", "failed", "skipped"])

        try await Shell.check(
            ["sh", "-c", "printf 'FROM dray-test/sh\\nENV SCRIPT=\"cat\"\\n' | docker build -q -t \(tag) -"])
        #expect(try await server.request(.POST, "/jobs/\(id)/resume").status == 202)
        let second = try await server.waitUntilEnded(id)
        #expect(second["status"] as? String == "complete", "\(second)")
        let after = try #require(second["steps"] as? [[String: Any]])
        #expect(after.map { $0["status"] as? String } == ["complete", "complete", "complete", "complete"])
        for index in [0, 1] {
            #expect(
                after[index]["startedAt"] as? String == before[index]["startedAt"] as? String,
                "step \(index + 1) did not run again")
        }
        let log = try await server.request(.GET, "/jobs/\(id)/log?step=good").json["lines"] as? [String]
        // Its stdout and stderr are two pipes: their lines' order between them is not kept.
        #expect(log?.sorted() == ["GO", "ran good"], "the good branch ran once")
        let output = try await server.request(.GET, "/jobs/\(id)/output")
        #expect(String(decoding: output.body, as: UTF8.self) == "GO\ngo\n")
    }

    @Test("a mistake in a graph: dray validate and a 400 name the field, with the name that was meant")
    func refused() async throws {
        let job = try Self.job(
            streaming: false, Self.step("split", "echo", needs: []), Self.step("upper", "cat", needs: ["spilt"]))
        let result = try await DrayProcess.run(["validate", job])
        #expect(result.status == 2)
        let said = String(decoding: result.stdout, as: UTF8.self)
        #expect(said.contains(#"steps[1].needs[0]: no step is named "spilt"; did you mean "split"?"#), "\(said)")
        // The server says the same, as a 400 whose JSON names the field.
        let server = try await ServerProcess.started("graph-refused")
        defer { server.stop() }
        let body =
            #"{"steps":[{"name":"split","source":"dray-test/sh"},{"name":"upper","source":"dray-test/sh","needs":["spilt"]}]}"#
        let answer = try await server.request(.POST, "/jobs", body: body)
        #expect(answer.status == 400)
        #expect((answer.json["error"] as? String)?.contains(#"steps[1].needs[0]: no step is named "spilt""#) == true)
    }
}
