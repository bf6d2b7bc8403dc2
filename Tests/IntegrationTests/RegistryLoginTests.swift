import Foundation
import Testing

/// Private registries: logins from the docker CLI's `config.json`, sent as `X-Registry-Auth`,
/// against Debian's `docker-registry` behind htpasswd (``LoginRegistry``).
@Suite("Registry logins")
struct RegistryLoginTests {
    static func job(_ source: String) throws -> String {
        try RunCommandTests.jobFile(#"{"steps": [{"source": "\#(source)"}]}"#)
    }

    static func config(_ json: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-config-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(json.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        return folder
    }

    @Test("dray run pulls with the login docker login kept; without one, or with a wrong one, it says so")
    func auths() async throws {
        let registry = try await LoginRegistry()
        defer { registry.stop() }
        let image = try await registry.push(as: "dray-test/private-auths")
        let job = try Self.job(image)

        let none = try await DrayProcess.run(["run", job], environment: ["DOCKER_CONFIG": try Self.config("{}")])
        #expect(none.status == 1)
        #expect(
            none.stderr.contains("pulling from \(registry.address) needs a login, and there is none for it"),
            "\(none.stderr)")
        #expect(none.stderr.contains("docker login \(registry.address)"))

        let wrongAuth = Data("\(LoginRegistry.user):wrong".utf8).base64EncodedString()
        let wrong = try await DrayProcess.run(
            ["run", job],
            environment: [
                "DOCKER_CONFIG": try Self.config(#"{"auths": {"\#(registry.address)": {"auth": "\#(wrongAuth)"}}}"#)
            ])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("the registry \(registry.address) refused the login for it"), "\(wrong.stderr)")

        let pulled = try await DrayProcess.run(["run", job], environment: ["DOCKER_CONFIG": registry.loggedIn])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(String(decoding: pulled.stdout, as: UTF8.self) == "v2\n")
        try await Shell.check(["docker", "rmi", image])
    }

    @Test("credHelpers and credsStore: docker-credential-NAME get gives the login; a missing helper is named")
    func helpers() async throws {
        let registry = try await LoginRegistry()
        defer { registry.stop() }
        let image = try await registry.push(as: "dray-test/private-helper")
        let job = try Self.job(image)
        // A credential helper as the docker CLI runs one: `get`, the registry on stdin, JSON out.
        let bin = registry.folder + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let helper = """
            #!/bin/sh
            [ "$1" = get ] || exit 1
            read -r server
            if [ "$server" = "\(registry.address)" ]; then
              printf '{"ServerURL":"%s","Username":"\(LoginRegistry.user)","Secret":"\(LoginRegistry.password)"}\\n' "$server"
            else
              echo "credentials not found in native keychain"; exit 1
            fi
            """
        try Data(helper.utf8).write(to: URL(fileURLWithPath: bin + "/docker-credential-dray-test"))
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o755], ofItemAtPath: bin + "/docker-credential-dray-test")
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")

        for config in [
            #"{"credHelpers": {"\#(registry.address)": "dray-test"}}"#, #"{"credsStore": "dray-test"}"#,
        ] {
            let pulled = try await DrayProcess.run(
                ["run", job], environment: ["DOCKER_CONFIG": try Self.config(config), "PATH": path])
            #expect(pulled.status == 0, "\(config): \(pulled.stderr)")
            #expect(String(decoding: pulled.stdout, as: UTF8.self) == "v2\n")
            try await Shell.check(["docker", "rmi", image])
        }
        let missing = try await DrayProcess.run(
            ["run", job], environment: ["DOCKER_CONFIG": try Self.config(#"{"credsStore": "nowhere"}"#)])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("docker-credential-nowhere get failed"), "\(missing.stderr)")
    }

    @Test("dray serve --registry-config: a job's private image is pulled through the API")
    func serve() async throws {
        let registry = try await LoginRegistry()
        defer { registry.stop() }
        let image = try await registry.push(as: "dray-test/private-serve")
        let server = try await ServerProcess.started(
            "registry-config",
            arguments: [
                "--registry-config", registry.loggedIn + "/config.json", "--allow-registry", registry.address,
            ])
        defer { server.stop() }
        let submitted = try await server.request(.POST, "/jobs", body: #"{"steps": [{"source": "\#(image)"}]}"#)
        #expect(submitted.status == 201, "\(String(decoding: submitted.body, as: UTF8.self))")
        let id = try #require(submitted.json["id"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["status"] as? String == "complete", "\(server.log)")
        let log = try await server.request(.GET, "/jobs/\(id)/log")
        #expect((log.json["lines"] as? [String])?.contains("v2") == true)
        try await Shell.check(["docker", "rmi", image])

        // A file that is not the docker CLI's config stops the server at start, saying why.
        let bad = try Self.config("not json")
        let refused = try await DrayProcess.run(["serve", "--port", "1", "--registry-config", bad + "/config.json"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("are not the docker CLI's config.json"), "\(refused.stderr)")
    }
}
