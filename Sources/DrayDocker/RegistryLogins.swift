import DockerClient
import DrayEngine
import Foundation

/// Registry logins as the docker CLI keeps them, in `config.json`: `auths` (base64 `user:pass`
/// in `auth`, or an `identitytoken`), `credsStore` (a helper for every registry) and
/// `credHelpers` (a helper per registry), where a helper is the program
/// `docker-credential-NAME`, asked with `get` and the registry on stdin.
///
/// The file is read at each pull, so a `docker login` takes effect without a restart.
public struct RegistryLogins: Sendable {
    /// The `config.json` file.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The docker CLI's file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public init?(environment: [String: String]) {
        if let folder = environment["DOCKER_CONFIG"], !folder.isEmpty {
            self.init(path: folder + "/config.json")
        } else if let home = environment["HOME"], !home.isEmpty {
            self.init(path: home + "/.docker/config.json")
        } else {
            return nil
        }
    }

    /// One registry's login.
    public struct Login: Sendable, Equatable {
        public var username: String?
        public var password: String?
        public var identityToken: String?
        /// The registry as the config names it (`https://index.docker.io/v1/`, `host:5000`).
        public var serverAddress: String

        /// The `X-Registry-Auth` header: base64url of the JSON the engine reads.
        public var header: String {
            var fields: [String: String] = ["serveraddress": serverAddress]
            if let identityToken {
                fields["identitytoken"] = identityToken
            } else {
                fields["username"] = username ?? ""
                fields["password"] = password ?? ""
            }
            let json = (try? JSONEncoder().encode(fields)) ?? Data()
            return json.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
                of: "/", with: "_")
        }
    }

    private struct ConfigFile: Decodable {
        var auths: [String: Entry]?
        var credsStore: String?
        var credHelpers: [String: String]?

        struct Entry: Decodable {
            var auth: String?
            var username: String?
            var password: String?
            var identitytoken: String?
        }
    }

    /// Reads the file, if there is one, to find out early that it cannot be read.
    public func check() throws(DockerClientError) {
        _ = try read()
    }

    private func read() throws(DockerClientError) -> ConfigFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .configuration("cannot read the registry logins in \(path): \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch {
            throw .configuration("the registry logins in \(path) are not the docker CLI's config.json: \(error)")
        }
    }

    /// The registry a `config.json` key names, as ``DrayEngine/ImageReference/registry`` says it:
    /// `https://index.docker.io/v1/` is `docker.io`, `https://host:5000/v2/` is `host:5000`.
    static func registry(ofKey key: String) -> String {
        var text = Substring(key.lowercased())
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text = text.dropFirst(scheme.count) }
        return ImageReference.registryName(text.prefix { $0 != "/" })
    }

    /// `registry`'s login (`host[:port]`, or `docker.io`), or nil when the file has none.
    public func login(for registry: String) async throws(DockerClientError) -> Login? {
        guard let config = try read() else { return nil }
        let entry = config.auths?.first { Self.registry(ofKey: $0.key) == registry }
        // The docker CLI's own key for Docker Hub, which its helpers are asked with.
        let serverAddress = entry?.key ?? (registry == "docker.io" ? "https://index.docker.io/v1/" : registry)
        let helper =
            config.credHelpers?.first { Self.registry(ofKey: $0.key) == registry }?.value ?? config.credsStore
        if let helper, !helper.isEmpty,
            let login = try await Self.ask(helper: helper, for: serverAddress, configuredIn: path)
        {
            return login
        }
        guard let entry else { return nil }
        if let token = entry.value.identitytoken, !token.isEmpty {
            return Login(identityToken: token, serverAddress: serverAddress)
        }
        if let auth = entry.value.auth, !auth.isEmpty {
            guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                let colon = decoded.firstIndex(of: ":")
            else {
                throw .configuration("the login for \(entry.key) in \(path) is not base64 of user:password")
            }
            return Login(
                username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]),
                serverAddress: serverAddress)
        }
        if let username = entry.value.username {
            return Login(username: username, password: entry.value.password, serverAddress: serverAddress)
        }
        return nil
    }

    private struct HelperAnswer: Decodable {
        var Username: String
        var Secret: String
    }

    /// Runs `docker-credential-HELPER get` with `server` on stdin. Nil when it knows no login
    /// for it (it says "credentials not found"), as the docker CLI then reads `auths`.
    static func ask(helper: String, for server: String, configuredIn path: String) async throws(DockerClientError)
        -> Login?
    {
        let program = "docker-credential-\(helper)"
        let result: (status: Int32, output: Data, error: Data)
        do {
            result = try await run([program, "get"], input: Data(server.utf8))
        } catch {
            throw .configuration("cannot run \(program) (named in \(path)): \(error)")
        }
        let said = String(decoding: result.output + result.error, as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard result.status == 0 else {
            if said.lowercased().contains("credentials not found") { return nil }
            throw .configuration("\(program) get failed for \(server) (exit \(result.status)): \(said)")
        }
        guard let answer = try? JSONDecoder().decode(HelperAnswer.self, from: result.output) else {
            throw .configuration(
                "\(program) get answered something other than {\"Username\", \"Secret\"} for \(server)")
        }
        // The docker CLI's convention: a helper keeps an identity token under the user "<token>".
        if answer.Username == "<token>" { return Login(identityToken: answer.Secret, serverAddress: server) }
        return Login(username: answer.Username, password: answer.Secret, serverAddress: server)
    }

    /// Runs a program found on `PATH`, with `input` on its stdin, and collects what it writes.
    private static func run(_ arguments: [String], input: Data) async throws -> (Int32, Data, Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                let error = stderr.fileHandleForReading.readDataToEndOfFile()
                continuation.resume(returning: (process.terminationStatus, output, error))
            }
            do {
                try process.run()
                // A helper that exits without reading (a missing one: env's exit 127) closes
                // the pipe: that is its answer, not an error here.
                try? stdin.fileHandleForWriting.write(contentsOf: input)
                try? stdin.fileHandleForWriting.close()
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
