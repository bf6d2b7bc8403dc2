import DrayEngine
import Foundation
import Testing

@Suite("Reading and validating job descriptions")
struct JobDocumentTests {
    private func problem(_ text: String) -> String? {
        do {
            _ = try JobDocument.decode(Data(text.utf8))
            return nil
        } catch {
            return error.message
        }
    }

    @Test("the seed's Demo Job reads as JSON, with its fields")
    func seedJob() throws {
        let job = try JobDocument.decode(
            Data(
                """
                {"name":"Demo Job","steps":[
                  {"name":"random-word","source":"centurylink/randword",
                   "environment":[{"variable":"WORD_COUNT","value":"10"}]},
                  {"name":"uppercase","source":"centurylink/upper","output":"stderr","refresh":true},
                  {"source":"centurylink/reverse","output":"/out/file.txt",
                   "beginDelimiter":"BEGIN","endDelimiter":"END"}]}
                """.utf8))
        #expect(job.name == "Demo Job")
        #expect(job.steps.count == 3)
        #expect(job.steps[0].environment == [EnvironmentVariable(variable: "WORD_COUNT", value: "10")])
        #expect(job.steps[0].outputChannel == .stdout)
        #expect(job.steps[1].outputChannel == .stderr)
        #expect(job.steps[1].refresh == true)
        #expect(job.steps[2].outputChannel == .file("/out/file.txt"))
        #expect(job.steps[2].beginDelimiter == "BEGIN")
    }

    @Test("YAML reads to the same job as JSON")
    func yaml() throws {
        let yaml = try JobDocument.decode(
            Data(
                """
                name: Word Job
                environment:
                  - { variable: A, value: "1" }
                steps:
                  - source: dray/randword
                  - source: dray/upper
                    output: stderr
                """.utf8))
        let json = try JobDocument.decode(
            Data(
                """
                {"name":"Word Job","environment":[{"variable":"A","value":"1"}],
                 "steps":[{"source":"dray/randword"},{"source":"dray/upper","output":"stderr"}]}
                """.utf8))
        #expect(yaml == json)
    }

    @Test("a client's id, status and stepsCompleted are ignored, whatever their type")
    func ignoredFields() throws {
        let job = try JobDocument.decode(
            Data(#"{"id": 5, "status": [], "stepsCompleted": "x", "steps":[{"source":"a"}]}"#.utf8))
        #expect(job.id == nil)
    }

    @Test(
        "each problem names its field",
        arguments: [
            (#"{"steps": []}"#, "steps must contain at least one step"),
            (#"{"name": "x"}"#, "steps is required"),
            (#"{"steps": [{"source": "a"}, {"name": "b"}]}"#, "steps[1].source is required"),
            (#"{"steps": [{"source": "  "}]}"#, "steps[0].source is required"),
            (#"{"steps": [{"source": 5}]}"#, "steps[0].source must be a string"),
            (#"{"steps": {}}"#, "steps must be an array"),
            (#"{"steps": [{"source": "a", "refresh": "yes"}]}"#, "steps[0].refresh must be a boolean"),
            (
                #"{"steps": [{"source": "a", "output": "out.txt"}]}"#,
                #"steps[0].output must be "stdout", "stderr" or an absolute file path, not "out.txt""#
            ),
            (#"{"steps": [{"source": "a", "output": "/"}]}"#, #"steps[0].output must name a file, not "/""#),
            (
                #"{"steps": [{"source": "a", "output": "/a/../etc/passwd"}]}"#,
                #"steps[0].output must not contain ".." segments: "/a/../etc/passwd""#
            ),
            (
                #"{"steps": [{"source": "a", "output": "/out/"}]}"#,
                #"steps[0].output must name a file, not a folder: "/out/""#
            ),
            (
                #"{"environment": [{"variable": "", "value": "x"}], "steps": [{"source": "a"}]}"#,
                "environment[0].variable must not be empty"
            ),
            (
                #"{"steps": [{"source": "a", "environment": [{"variable": "A=B", "value": "x"}]}]}"#,
                #"steps[0].environment[0].variable must not contain "=""#
            ),
            (
                #"{"steps": [{"source": "a", "environment": [{"variable": "A"}]}]}"#,
                "steps[0].environment[0].value is required"
            ),
            (
                #"{"steps": [{"source": "a", "beginDelimiter": "B"}]}"#,
                "steps[0].endDelimiter is required when beginDelimiter is set"
            ),
            (
                #"{"steps": [{"source": "Upper/Case"}]}"#,
                #"steps[0].source "Upper/Case" is not a valid image reference: the repository name must be lowercase"#
            ),
            (#"[1, 2]"#, "the job description must be an object"),
        ])
    func problems(input: String, message: String) {
        #expect(problem(input) == message)
    }

    @Test("every problem of a job is reported at once")
    func allProblems() throws {
        let text = #"{"environment":[{"variable":"A=B","value":"x"}],"steps":[{"source":""},{"name":"x"}]}"#
        #expect(throws: DrayError.self) { try JobDocument.decode(Data(text.utf8)) }
        do {
            _ = try JobDocument.decode(Data(text.utf8))
        } catch {
            #expect(error.code == .invalidJob)
            #expect(
                error.problems == [
                    #"environment[0].variable must not contain "=""#,
                    "steps[0].source is required",
                    "steps[1].source is required",
                ])
        }
    }

    @Test("malformed JSON and YAML get one line that says so")
    func malformed() throws {
        let json = try #require(problem(#"{"steps": ["#))
        #expect(json.hasPrefix("the job description is not valid JSON or YAML"))
        let yaml = try #require(problem("steps: ["))
        #expect(yaml.hasPrefix("the job description is not valid JSON or YAML"))
        #expect(!yaml.contains("\n"))
    }

    @Test("the step's environment wins over the job's, in the job's order")
    func environmentMerge() {
        let job = Job(
            environment: [.init(variable: "A", value: "job"), .init(variable: "B", value: "job")],
            steps: [
                Step(
                    source: "x", environment: [.init(variable: "B", value: "step"), .init(variable: "C", value: "c")]),
                Step(source: "y"),
            ])
        #expect(job.environment(forStep: 0) == ["A=job", "B=step", "C=c"])
        #expect(job.environment(forStep: 1) == ["A=job", "B=job"])
    }

    @Test("an output channel encodes back to the seed's string")
    func outputRoundTrip() throws {
        let step = Step(source: "a", output: .file("/x/y"))
        let data = try JSONEncoder().encode(step)
        #expect(String(decoding: data, as: UTF8.self).contains(#""output":"\/x\/y""#))
        #expect(try JSONDecoder().decode(Step.self, from: data) == step)
    }
}
