import DockerClient
import Foundation
import Testing

@testable import DrayDocker

@Suite("Registry logins from config.json")
struct RegistryLoginsTests {
    func logins(_ json: String) throws -> RegistryLogins {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).json")
            .path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return RegistryLogins(path: path)
    }

    @Test("auths keys are matched as the registry an image names, Docker Hub's URL included")
    func keys() {
        #expect(RegistryLogins.registry(ofKey: "https://index.docker.io/v1/") == "docker.io")
        #expect(RegistryLogins.registry(ofKey: "Registry.Example:5000") == "registry.example:5000")
        #expect(RegistryLogins.registry(ofKey: "http://registry.example/v2/") == "registry.example")
    }

    @Test("auth is base64 of user:password; the header is base64url JSON with the config's server address")
    func header() async throws {
        let logins = try logins(#"{"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="}}}"#)
        let login = try #require(try await logins.login(for: "docker.io"))
        #expect(login.username == "user")
        #expect(login.password == "pa:ss")
        let base64 = login.header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let fields = try JSONDecoder().decode([String: String].self, from: try #require(Data(base64Encoded: base64)))
        #expect(fields == ["username": "user", "password": "pa:ss", "serveraddress": "https://index.docker.io/v1/"])
        #expect(try await logins.login(for: "other.example") == nil)
    }

    @Test("an identity token is sent as one")
    func identityToken() async throws {
        let logins = try logins(#"{"auths": {"r.example": {"identitytoken": "tok"}}}"#)
        #expect(try await logins.login(for: "r.example") == .init(identityToken: "tok", serverAddress: "r.example"))
    }

    @Test("a file that is not config.json, or an auth that is not base64 of user:password, is a clear error")
    func refused() async throws {
        #expect(throws: DockerClientError.self) { try self.logins("[1]").check() }
        let logins = try logins(#"{"auths": {"r.example": {"auth": "bm8tY29sb24="}}}"#)
        await #expect(throws: DockerClientError.self) { try await logins.login(for: "r.example") }
        #expect(try RegistryLogins(path: "/nonexistent/config.json").check() == ())
    }
}
