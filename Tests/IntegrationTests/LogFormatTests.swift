import Foundation
import Testing

/// `LOG_FORMAT=json`: the server's log as a log collector reads it.
@Suite("Structured server logs")
struct LogFormatTests {
    @Test("LOG_FORMAT=json: one JSON object per line, with the job's id as a field, not in the message")
    func json() async throws {
        let server = try await ServerProcess.started("json-log", environment: ["LOG_FORMAT": "json"])
        defer { server.stop() }
        let submitted = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob(#"echo "quote\" and \\ back""#, name: "s1"))
        let id = try #require(submitted.json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        server.stop()
        let lines = server.log.split(separator: "\n")
        #expect(!lines.isEmpty)
        var objects: [[String: String]] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object != nil, "not a JSON object of strings: \(line)")
            if let object { objects.append(object) }
        }
        #expect(objects.allSatisfy { $0["time"] != nil && $0["level"] != nil && $0["message"] != nil })
        let ended = try #require(objects.first { $0["message"] == "job ended" }, "\(objects)")
        #expect(ended["job"] == id)
        #expect(ended["status"] == "complete")
        #expect(objects.first { $0["message"] == "job submitted" }?["job"] == id)
        #expect(!objects.contains { $0["message"]?.contains(id) == true }, "the id is a field, not text")
    }

    @Test("an unknown LOG_FORMAT warns and uses text")
    func unknown() async throws {
        let server = try await ServerProcess.started("xml-log", environment: ["LOG_FORMAT": "xml"])
        defer { server.stop() }
        server.stop()
        #expect(server.log.contains(#"LOG_FORMAT "xml" is neither text nor json: using text"#), "\(server.log)")
    }
}
