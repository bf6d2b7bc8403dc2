import DrayEngine
import Foundation
import Testing

/// Job descriptions written to hurt: each is refused with a message that names what is wrong.
@Suite("Hostile job descriptions")
struct HostileInputTests {
    private func problems(_ text: String, maxBytes: Int = JobDocument.defaultMaxBytes) -> [String] {
        JobDocument.inspect(Data(text.utf8), maxBytes: maxBytes).problems
    }

    @Test("a key given twice is refused, naming its path")
    func duplicateKeys() {
        #expect(
            problems(#"{"steps":[{"source":"a","source":"b"}]}"#) == [
                "steps[0].source appears twice: give each field once"
            ])
        #expect(problems(#"{"steps":[{"source":"a"}],"steps":[]}"#) == ["steps appears twice: give each field once"])
        #expect(
            problems(#"{"environment":[{"variable":"A","value":"1","val\u0075e":"2"}],"steps":[{"source":"a"}]}"#)
                == ["environment[0].value appears twice: give each field once"])
        #expect(problems(#"{"steps":[{"source":"a","name":"x"}],"name":"x"}"#).isEmpty)
    }

    @Test("YAML aliases count as often as they are used, against the limit, before the job is built")
    func aliasExpansion() {
        let value = String(repeating: "x", count: 2000)
        var yaml = "s: &s {source: dray/upper, environment: [{variable: A, value: '\(value)'}]}\n"
        yaml += "steps: [" + Array(repeating: "*s", count: 900).joined(separator: ",") + "]\n"
        #expect(yaml.utf8.count < 10_000)
        let refused = problems(yaml, maxBytes: 1 << 20)
        #expect(
            refused == [
                "the job description expands to more than 1048576 bytes: a YAML alias counts as often as it is used"
            ])
        #expect(!problems(yaml, maxBytes: 4 << 20).contains { $0.hasPrefix("the job description expands") })
    }

    @Test("at most 1000 steps, and names, delimiters and values of bounded length")
    func limits() {
        let steps = Array(repeating: #"{"source":"a"}"#, count: 1001).joined(separator: ",")
        #expect(problems(#"{"steps":[\#(steps)]}"#) == ["steps must hold at most 1000 steps, not 1001"])
        let long = String(repeating: "n", count: 1025)
        #expect(
            problems(#"{"name":"\#(long)","steps":[{"source":"a"}]}"#) == [
                "name is 1025 bytes long; at most 1024 are allowed"
            ])
        #expect(
            problems(#"{"steps":[{"source":"a","name":"\#(long)"}]}"#) == [
                "steps[0].name is 1025 bytes long; at most 1024 are allowed"
            ])
        let value = String(repeating: "v", count: (128 << 10) + 1)
        #expect(
            problems(#"{"steps":[{"source":"a","environment":[{"variable":"A","value":"\#(value)"}]}]}"#) == [
                "steps[0].environment[0].value is 131073 bytes long; at most 131072 are allowed"
            ])
    }

    @Test(
        "an environment name with white space or a control character is refused",
        arguments: ["A\\nB", "A B", "A\\tB", "A\\u0001"])
    func environmentNames(_ name: String) {
        #expect(
            problems(#"{"steps":[{"source":"a","environment":[{"variable":"\#(name)","value":"1"}]}]}"#) == [
                "steps[0].environment[0].variable must not contain white space or control characters"
            ])
    }

    @Test("a repository name over 255 characters is refused when the job is submitted")
    func longRepository() {
        let name = String(repeating: "a", count: 256)
        #expect(
            problems(#"{"steps":[{"source":"\#(name)"}]}"#) == [
                "steps[0].source \"\(name)\" is not a valid image reference: the repository name is 256 characters long; at most 255 are allowed"
            ])
        #expect(problems(#"{"steps":[{"source":"\#(String(repeating: "a", count: 255))"}]}"#).isEmpty)
    }
}
