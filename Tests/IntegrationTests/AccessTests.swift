import Foundation
import NIOSSL
import Testing

/// Who may call `dray serve`: the token, HTTPS, and the client verbs' `--token`, on real
/// server processes as an operator starts them.
@Suite("Access to the server")
struct AccessTests {
    static let token = "s3cret-\(UUID().uuidString)"

    /// A file holding `text`, in a fresh folder.
    static func file(_ text: String, named name: String = "token") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("with --token-file every route but the probes needs the token, and a wrong one is a 401 in JSON")
    func tokenFile() async throws {
        let server = try await ServerProcess.started(
            "token", arguments: ["--token-file", try Self.file(Self.token + "\n")])
        defer { server.stop() }
        for path in ["/jobs", "/jobs/X", "/v1.2/jobs", "/openapi.yaml", "/metrics", "/no/such/route"] {
            let answer = try await server.request(.GET, path)
            #expect(answer.status == 401, "\(path)")
            #expect(answer.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(path)")
            #expect((answer.json["error"] as? String)?.contains("Authorization: Bearer") == true, "\(path)")
        }
        let submitted = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi"))
        #expect(submitted.status == 401)
        for wrong in ["Bearer nope", "Bearer \(Self.token)x", "Basic \(Self.token)", Self.token, "Bearer"] {
            #expect(
                try await server.request(.GET, "/jobs", headers: ["Authorization": wrong]).status == 401, "\(wrong)")
        }
        let good = ["Authorization": "Bearer \(Self.token)"]
        #expect(try await server.request(.GET, "/jobs", headers: good).status == 200)
        #expect(
            try await server.request(.GET, "/v1/jobs", headers: ["Authorization": "bearer \(Self.token)"]).status == 200
        )
        #expect(try await server.request(.GET, "/healthz").status == 200)
        #expect(try await server.request(.GET, "/readyz").status == 200)
        #expect(
            try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi"), headers: good).status
                == 201)
        // The token never reaches the log.
        #expect(!server.log.contains(Self.token))
    }

    @Test("the client verbs send --token or DRAY_TOKEN, and say what to do without it")
    func clientVerbs() async throws {
        let server = try await ServerProcess.started("token-cli", environment: ["DRAY_TOKEN": Self.token])
        defer { server.stop() }
        let bare = try await DrayProcess.run(["ls"], environment: ["DRAY_URL": server.url, "DRAY_TOKEN": ""])
        #expect(bare.status == 1)
        #expect(bare.stderr.contains("--token or DRAY_TOKEN"), "\(bare.stderr)")
        let flag = try await DrayProcess.run(
            ["submit", "--watch", "--token", Self.token, "-"], stdinText: ServerProcess.shellJob("echo hello"),
            environment: ["DRAY_URL": server.url, "DRAY_TOKEN": ""])
        #expect(flag.status == 0, "\(flag.stderr)")
        #expect(flag.stderr == "[sh] hello\n")
        let variable = try await DrayProcess.run(
            ["ls"], environment: ["DRAY_URL": server.url, "DRAY_TOKEN": Self.token])
        #expect(variable.status == 0, "\(variable.stderr)")
        #expect(
            String(decoding: variable.stdout, as: UTF8.self).contains("running")
                || String(decoding: variable.stdout, as: UTF8.self).contains("complete"))
    }

    @Test("flags that cannot go together, and a token file that holds no token, stop the server at once")
    func badFlags() async throws {
        let environment = ["DRAY_TOKEN": ""]
        let cases: [([String], String)] = [
            (["--no-auth", "--token-file", try Self.file("x")], "--no-auth and a token"),
            (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
            (["--token-file", try Self.file("two words")], "must hold a token"),
            (["--token-file", "/nonexistent/token"], "cannot read --token-file"),
            (["--tls-cert", try Self.file("not pem"), "--tls-key", try Self.file("not pem")], "cannot read the TLS"),
        ]
        for (arguments, message) in cases {
            let result = try await DrayProcess.run(
                ["serve", "--port", "1", "--data-dir", NSTemporaryDirectory() + "dray-flags"] + arguments,
                environment: environment)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test("--tls-cert and --tls-key serve HTTPS: the token crosses encrypted, and plain HTTP is not answered")
    func https() async throws {
        let folder = try Self.file("", named: "unused")
        let directory = (folder as NSString).deletingLastPathComponent
        try await Shell.check(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem",
            ], in: directory)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(directory + "/cert.pem")
        let server = try await ServerProcess.started(
            "https",
            arguments: [
                "--tls-cert", directory + "/cert.pem", "--tls-key", directory + "/key.pem", "--token-file",
                try Self.file(Self.token),
            ], tls: tls)
        defer { server.stop() }
        #expect(server.url.hasPrefix("https://"))
        #expect(try await server.request(.GET, "/jobs").status == 401)
        #expect(
            try await server.request(.GET, "/jobs", headers: ["Authorization": "Bearer \(Self.token)"]).status == 200)
        await #expect(throws: (any Error).self) {
            _ = try await ServerProcess.request(.GET, "http://127.0.0.1:\(server.port)/healthz", timeout: .seconds(5))
        }
        let listed = try await DrayProcess.run(
            ["ls", "--url", server.url, "--ca-cert", directory + "/cert.pem", "--token", Self.token])
        #expect(listed.status == 0, "\(listed.stderr)")
        let untrusted = try await DrayProcess.run(["ls", "--url", server.url, "--token", Self.token])
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("cannot reach the Dray server"), "\(untrusted.stderr)")
        let health = try await DrayProcess.run(["healthcheck", "--url", server.url])
        #expect(health.status == 0, "\(health.stderr)")
    }

    @Test("dray healthcheck exits 0 while /healthz answers and 1 when nothing listens")
    func healthcheck() async throws {
        let server = try await ServerProcess.started("health", arguments: ["--token-file", try Self.file(Self.token)])
        let up = try await DrayProcess.run(["healthcheck"], environment: ["PORT": String(server.port), "DRAY_URL": ""])
        #expect(up.status == 0, "\(up.stderr)")
        server.stop()
        let down = try await DrayProcess.run(["healthcheck", "--url", server.url, "--timeout", "2"])
        #expect(down.status == 1)
        #expect(down.stderr.contains("does not answer"), "\(down.stderr)")
    }
}
