import Foundation
import Testing

/// `DOCKER_TLS_VERIFY`, as against a remote engine run with `--tlsverify`: socat with a server
/// certificate and `verify=1` in front of the test engine (``TLSEngineProxy``).
@Suite("TLS to the engine")
struct TLSEngineTests {
    @Test("the Word Job, the file channel and 16 MB of bytes run over TLS: attach, stdin's end, the archive calls")
    func runsOverTLS() async throws {
        let proxy = try await TLSEngineProxy()
        defer { proxy.stop() }
        let word = try await DrayProcess.run(
            ["run", DrayProcess.root + "/examples/word-job.json"], environment: proxy.environment())
        #expect(word.status == 0, "\(word.stderr)")
        #expect(
            String(decoding: word.stdout, as: UTF8.self).range(of: #"^[A-Z]+\n$"#, options: .regularExpression) != nil)

        // Random bytes, their checksum logged by the first step; the file channel in the middle;
        // the last step checks what came through all three.
        let job = try RunCommandTests.jobFile(
            #"""
            steps:
              - source: dray-test/sh
                environment: [{ variable: SCRIPT, value: "head -c 16777216 /dev/urandom > /tmp/d; sha256sum < /tmp/d >&2; cat /tmp/d" }]
              - source: dray-test/sh
                environment: [{ variable: SCRIPT, value: "cat > /out/data.bin; wc -c < /out/data.bin >&2" }]
                output: /out/data.bin
              - source: dray-test/sh
                environment: [{ variable: SCRIPT, value: "cat > /tmp/d; wc -c < /tmp/d >&2; sha256sum < /tmp/d" }]
            """#)
        let bytes = try await DrayProcess.run(["run", job], environment: proxy.environment())
        // The log holds 48 MB of escaped bytes: a failure shows what each step said on stderr
        // (the checksum, then each later step's byte count) and the log's last lines.
        let said = bytes.stderr.split(separator: "\n").filter { $0.hasPrefix("[sh:err]") || $0.hasPrefix("dray:") }
        let diagnosis = "\(said.joined(separator: "\n"))\n…\n\(bytes.stderr.suffix(2000))"
        #expect(bytes.status == 0, "\(diagnosis)")
        let sum = String(decoding: bytes.stdout, as: UTF8.self).prefix(64)
        #expect(sum.count == 64)
        #expect(said.contains("[sh:err] \(sum)  -"), "\(diagnosis)")
        #expect(said.filter { $0 == "[sh:err] 16777216" }.count == 2, "\(diagnosis)")
    }

    @Test("dray serve reaches a TLS engine and runs jobs through the API")
    func serveOverTLS() async throws {
        let proxy = try await TLSEngineProxy()
        defer { proxy.stop() }
        let server = try await ServerProcess.started("tls-engine", environment: proxy.environment())
        defer { server.stop() }
        let submitted = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob("echo over-tls; cat", name: "tls"))
        #expect(submitted.status == 201)
        let id = try #require(submitted.json["id"] as? String)
        let ready = try await server.request(.GET, "/readyz")
        #expect(ready.status == 200, "\(String(decoding: ready.body, as: UTF8.self))")
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let log = try await server.request(.GET, "/jobs/\(id)/log")
        #expect(log.json["lines"] as? [String] == ["over-tls"])
    }

    @Test("a wrong CA, a missing client certificate or a certificate for another name: a clear error, never clear text")
    func refusals() async throws {
        let proxy = try await TLSEngineProxy()
        defer { proxy.stop() }
        // A certificate for another name than the 127.0.0.1 that DOCKER_HOST names.
        let otherName = try await TLSEngineProxy(serverNames: "DNS:engine.example")
        defer { otherName.stop() }
        let folder = proxy.folder
        // Another CA in ca.pem, with the right client certificate.
        let wrong = folder + "/wrong-ca"
        try FileManager.default.createDirectory(atPath: wrong, withIntermediateDirectories: true)
        try await TLSEngineProxy.makeCA(named: "ca", in: wrong)
        for name in ["cert.pem", "key.pem"] {
            try FileManager.default.copyItem(atPath: proxy.certificates + "/" + name, toPath: wrong + "/" + name)
        }
        // Only the CA: the engine asks for a client certificate that is not there.
        let noClient = folder + "/no-client"
        try FileManager.default.createDirectory(atPath: noClient, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: proxy.certificates + "/ca.pem", toPath: noClient + "/ca.pem")

        let cases: [(environment: [String: String], message: String)] = [
            (
                proxy.environment(certificatePath: wrong),
                "(CERTIFICATE_VERIFY_FAILED): the engine's certificate is not signed by the CA in DOCKER_CERT_PATH's ca.pem"
            ),
            (
                proxy.environment(certificatePath: noClient),
                "the engine refused Dray's client certificate: DOCKER_CERT_PATH needs cert.pem and key.pem"
            ),
            (otherName.environment(), "the engine's certificate does not name the host in DOCKER_HOST"),
            (
                proxy.environment(certificatePath: folder + "/missing"),
                "DOCKER_CERT_PATH \"\(folder)/missing\" is not a folder"
            ),
        ]
        let job = try RunCommandTests.jobFile("steps: [{ source: dray-test/sh }]")
        for (environment, message) in cases {
            let result = try await DrayProcess.run(["run", job], environment: environment)
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("dray: "), "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
        // The same engine without TLS: socat refuses the clear-text request; nothing runs.
        let clear = try await DrayProcess.run(
            ["run", job], environment: ["DOCKER_HOST": "tcp://127.0.0.1:\(proxy.port)"])
        #expect(clear.status == 1)
        #expect(clear.stderr.contains("cannot reach the Docker engine"), "\(clear.stderr)")
    }
}
