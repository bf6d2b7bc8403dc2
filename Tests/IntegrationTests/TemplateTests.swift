import Foundation
import Testing

/// Templates: a job kept with parameters, and runs that fill them in, on a real server and
/// engine.
@Suite("Job templates")
struct TemplateTests {
    static let template = #"""
        {"job":{"name":"greet ${{ params.who }}",
                "steps":[{"name":"say","source":"dray-test/sh",
                          "environment":[{"variable":"SCRIPT","value":"echo '${{params.greeting}}' ${{ params.who }} x${{ params.times }}"}]},
                         {"source":"dray/upper"}]},
         "parameters":{"type":"object",
                       "properties":{"who":{"type":"string","pattern":"[a-z]+","description":"Whom to greet."},
                                     "greeting":{"type":"string","default":"hello"},
                                     "times":{"type":"integer","minimum":1,"maximum":3,"default":1}},
                       "required":["who"]}}
        """#

    @Test(
        "a run substitutes its parameters (and the defaults) and records the template's version; a bad one is refused naming it"
    )
    func run() async throws {
        let server = try await ServerProcess.started("templates")
        defer { server.stop() }
        let stored = try await server.request(.PUT, "/templates/greet", body: Self.template)
        #expect(stored.status == 201, "\(stored.json)")
        #expect(stored.json["version"] as? Int == 1)

        let run = try await server.request(
            .POST, "/templates/greet/runs", body: #"{"params":{"who":"world","times":2}}"#)
        #expect(run.status == 201, "\(run.json)")
        let id = try #require(run.json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete")
        #expect(ended["name"] as? String == "greet world")
        let template = try #require(ended["template"] as? [String: Any])
        #expect(template["name"] as? String == "greet")
        #expect(template["version"] as? Int == 1)
        #expect(
            String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self)
                == "HELLO WORLD X2\n")

        // A new version; a run takes the latest, and says so.
        let changed = Self.template.replacingOccurrences(of: #""default":"hello""#, with: #""default":"bye""#)
        let second = try await server.request(.PUT, "/templates/greet", body: changed)
        #expect(second.status == 200)
        #expect(second.json["version"] as? Int == 2)
        let again = try #require(
            try await server.request(.POST, "/templates/greet/runs", body: #"{"params":{"who":"moon"}}"#).json["id"]
                as? String)
        let againEnded = try await server.waitUntilEnded(again)
        #expect((againEnded["template"] as? [String: Any])?["version"] as? Int == 2)
        #expect(
            String(decoding: try await server.request(.GET, "/jobs/\(again)/output").body, as: UTF8.self)
                == "BYE MOON X1\n")
        #expect(try await server.request(.GET, "/templates/greet?version=1").json["version"] as? Int == 1)
        let listed =
            try JSONSerialization.jsonObject(with: try await server.request(.GET, "/templates").body) as? [String: Any]
        #expect((listed?["templates"] as? [[String: Any]])?.map { $0["version"] as? Int } == [2])

        // Each mistake is a 400 that names the parameter, and makes no job.
        for (params, field) in [
            (#"{"params":{}}"#, "params.who is required"),
            (#"{"params":{"who":"World"}}"#, "params.who must match"),
            (#"{"params":{"who":"x","times":9}}"#, "params.times must be at most 3"),
            (#"{"params":{"who":"x","times":"two"}}"#, "params.times must be an integer"),
            (#"{"params":{"who":"x","color":"red"}}"#, "params.color is not a parameter"),
        ] {
            let refused = try await server.request(.POST, "/templates/greet/runs", body: params)
            #expect(refused.status == 400, "\(params)")
            #expect((refused.json["error"] as? String)?.contains(field) == true, "\(params): \(refused.json)")
        }
        // A value is text, never read as a placeholder (nor by Dray as code): it is passed as it is.
        let literal = try await server.request(
            .POST, "/templates/greet/runs", body: #"{"params":{"who":"abc","greeting":"${{ params.who }}$(id)"}}"#)
        let literalID = try #require(literal.json["id"] as? String)
        _ = try await server.waitUntilEnded(literalID)
        #expect(
            String(decoding: try await server.request(.GET, "/jobs/\(literalID)/output").body, as: UTF8.self)
                == "${{ PARAMS.WHO }}$(ID) ABC X1\n")

        let missing = try await server.request(.POST, "/templates/nope/runs", body: "{}")
        #expect(missing.status == 404)
        #expect(try await server.request(.DELETE, "/templates/greet").status == 204)
        #expect(try await server.request(.GET, "/templates/greet").status == 404)
        // Its jobs stay.
        #expect(try await server.request(.GET, "/jobs/\(id)").status == 200)
    }

    @Test(
        "a template is refused naming the field: a parameter in a source, an unknown parameter, a bad default or name")
    func refused() async throws {
        let server = try await ServerProcess.started("templates-refused")
        defer { server.stop() }
        for (name, body, field) in [
            (
                "t",
                #"{"job":{"steps":[{"source":"dray/${{ params.image }}"}]},"parameters":{"properties":{"image":{"type":"string"}}}}"#,
                "job.steps[0].source cannot take a parameter"
            ),
            (
                "t", #"{"job":{"steps":[{"source":"dray/upper","command":["${{ params.nope }}"]}]}}"#,
                "job.steps[0].command[0] uses ${{ params.nope }}"
            ),
            (
                "t",
                #"{"job":{"steps":[{"source":"dray/upper"}]},"parameters":{"properties":{"n":{"type":"integer","default":"x"}}}}"#,
                "parameters.properties.n.default must be an integer"
            ),
            (
                "t", #"{"job":{"steps":[{"source":"dray/upper"}]},"parameters":{"required":["n"]}}"#,
                "parameters.required names n"
            ),
            ("t", #"{"job":{"steps":[]}}"#, "job.steps must contain at least one step"),
            ("bad name!", #"{"job":{"steps":[{"source":"dray/upper"}]}}"#, "a template's name must be"),
        ] {
            let path = "/templates/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
            let answer = try await server.request(.PUT, path, body: body)
            #expect(answer.status == 400, "\(body)")
            #expect((answer.json["error"] as? String)?.contains(field) == true, "\(body): \(answer.json)")
        }
    }
}
