import DrayEngine
import Foundation
import Testing

@Suite("Fields Dray does not know")
struct UnknownFieldTests {
    private func read(_ text: String, strict: Bool = false) throws -> JobDocument.Reading {
        try JobDocument.read(Data(text.utf8), strict: strict)
    }

    @Test("a typo is a warning that names its path and the field meant; the job is still read")
    func typos() throws {
        let reading = try read(
            #"{"nmae":"x","steps":[{"source":"dray/upper","ouput":"stderr","enviroment":[{"variable":"A","valeu":"1","value":"2"}]}]}"#
        )
        #expect(reading.job.steps[0].outputChannel == .stdout)
        #expect(
            reading.warnings == [
                #"nmae is not a field of a job; did you mean "name"?"#,
                #"steps[0].enviroment is not a field of a step; did you mean "environment"?"#,
                #"steps[0].ouput is not a field of a step; did you mean "output"?"#,
            ])
        let nested = try read(#"{"steps":[{"source":"x","environment":[{"variable":"A","value":"1","valeu":"2"}]}]}"#)
        #expect(
            nested.warnings == [
                #"steps[0].environment[0].valeu is not a field of an environment variable; did you mean "value"?"#
            ])
    }

    @Test("a field with nothing near is named without a guess; case and swapped letters are near")
    func suggestions() throws {
        let reading = try read(#"{"steps":[{"source":"x","colour":"red","Source":"y","srouce":"z","tiemout":3}]}"#)
        #expect(
            reading.warnings == [
                #"steps[0].Source is not a field of a step; did you mean "source"?"#,
                "steps[0].colour is not a field of a step",
                #"steps[0].srouce is not a field of a step; did you mean "source"?"#,
                #"steps[0].tiemout is not a field of a step; did you mean "timeout"?"#,
            ])
    }

    @Test("the seed's answer fields a client sends back are ignored quietly")
    func echoedFields() throws {
        let reading = try read(#"{"id":"A","status":"complete","stepsCompleted":3,"steps":[{"source":"x"}]}"#)
        #expect(reading.warnings.isEmpty)
    }

    @Test("YAML is checked the same way")
    func yaml() throws {
        let reading = try read("steps:\n  - source: x\n    ouput: stderr\n")
        #expect(reading.warnings == [#"steps[0].ouput is not a field of a step; did you mean "output"?"#])
    }

    @Test("strict makes each warning a problem, reported with the job's other problems")
    func strict() throws {
        let text = #"{"steps":[{"source":"","ouput":"stderr"}]}"#
        do throws(DrayError) {
            _ = try JobDocument.read(Data(text.utf8), strict: true)
            Issue.record("a strict read accepted an unknown field")
        } catch {
            #expect(
                error.problems == [
                    "steps[0].source is required", #"steps[0].ouput is not a field of a step; did you mean "output"?"#,
                ])
        }
        let inspection = JobDocument.inspect(Data(text.utf8))
        #expect(inspection.problems == ["steps[0].source is required"])
        #expect(inspection.warnings.count == 1)
    }

    @Test("retries that is not a whole number names the field")
    func fractionalRetries() {
        #expect(
            JobDocument.inspect(Data(#"{"steps":[{"source":"x","retries":1.5}]}"#.utf8)).problems == [
                "steps[0].retries must be a whole number from 0 to 100, not 1.5"
            ])
    }
}
