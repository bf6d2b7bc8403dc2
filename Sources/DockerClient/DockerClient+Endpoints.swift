import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

extension DockerClient {
    // MARK: - System

    /// Maps to `GET /version` (not versioned).
    public func version() async throws(DockerClientError) -> SystemVersion {
        try await json(SystemVersion.self, .GET, "/version", versioned: false)
    }

    /// Maps to `GET /_ping`.
    public func ping() async throws(DockerClientError) {
        try await collect(.GET, "/_ping")
    }

    // MARK: - Images

    /// Maps to `GET /images/{name}/json`; nil when the engine has no such image.
    public func imageExists(_ name: String) async throws(DockerClientError) -> Bool {
        do {
            try await collect(.GET, "/images/\(name)/json")
            return true
        } catch  where error.isNotFound {
            return false
        }
    }

    /// Maps to `GET /images/{name}/json`: the image's id (`sha256:…`), which changes whenever
    /// what the tag names changes.
    public func imageID(_ name: String) async throws(DockerClientError) -> String {
        struct Inspect: Decodable {
            var Id: String
        }
        return try await json(Inspect.self, .GET, "/images/\(name)/json").Id
    }

    /// Maps to `POST /images/create?fromImage=&tag=`. Calls `progress` with each progress line,
    /// and throws the engine's message when an error arrives inside the `200` stream.
    /// `registryAuth` is the `X-Registry-Auth` header (``RegistryLogins/Login/header``).
    public func pullImage(
        _ repository: String,
        tag: String,
        registryAuth: String? = nil,
        progress: (ProgressMessage) async -> Void = { _ in }
    ) async throws(DockerClientError) {
        let response = try await send(
            .POST, "/images/create", query: [("fromImage", repository), ("tag", tag)],
            headers: registryAuth.map { [("X-Registry-Auth", $0)] } ?? [])
        try await readProgress(response, progress)
    }

    /// Maps to `POST /images/create?fromSrc=-&changes=`, then `POST /images/{id}/tag`: an image
    /// of one layer, the tar archive `layer`, with the Dockerfile instructions `changes`
    /// (`CMD ["/pause"]`), named `repository:tag`. (Podman's import ignores `repo`, so the new
    /// image is named by a tag call, on both engines.)
    public func importImage(
        _ layer: ByteBuffer, repository: String, tag: String, changes: [String] = []
    ) async throws(DockerClientError) {
        let response = try await send(
            .POST, "/images/create", query: [("fromSrc", "-")] + changes.map { ("changes", $0) },
            body: .bytes(layer), contentType: "application/x-tar")
        // Both engines answer with the new image's id as the status.
        var image: String?
        try await readProgress(response) { image = $0.status ?? image }
        guard let image, !image.isEmpty else {
            throw .http(status: 200, message: "the engine imported the image but did not say its id")
        }
        try await tagImage(image, repository: repository, tag: tag)
    }

    /// Reads the progress lines of an image call's `200` stream, and throws the engine's message
    /// when an error arrives inside it.
    private func readProgress(
        _ response: HTTPClientResponse, _ progress: (ProgressMessage) async -> Void
    ) async throws(DockerClientError) {
        var lines = JSONLines()
        do {
            for try await chunk in response.body {
                for line in lines.feed(chunk) { try await report(line, progress) }
            }
            if let last = lines.finish() { try await report(last, progress) }
        } catch let error as DockerClientError {
            throw error
        } catch {
            throw transportError(error)
        }
    }

    private func report(_ line: String, _ progress: (ProgressMessage) async -> Void) async throws(DockerClientError) {
        guard !line.isEmpty, let message = try? JSONDecoder().decode(ProgressMessage.self, from: Data(line.utf8)) else {
            return
        }
        if let error = message.errorDetail?.message ?? message.error {
            throw .http(status: 200, message: error)
        }
        await progress(message)
    }

    /// Maps to `POST /images/{name}/tag?repo=&tag=`.
    public func tagImage(_ name: String, repository: String, tag: String) async throws(DockerClientError) {
        try await collect(.POST, "/images/\(name)/tag", query: [("repo", repository), ("tag", tag)])
    }

    /// Maps to `DELETE /images/{name}?force=1`.
    public func removeImage(_ name: String) async throws(DockerClientError) {
        try await collect(.DELETE, "/images/\(name)", query: [("force", "1")])
    }

    // MARK: - Containers

    /// Maps to `POST /containers/create`.
    public func createContainer(_ request: ContainerCreateRequest) async throws(DockerClientError) -> String {
        try await json(ContainerCreateResponse.self, .POST, "/containers/create", body: request).id
    }

    /// Maps to `POST /containers/{id}/start`.
    public func startContainer(_ id: String) async throws(DockerClientError) {
        try await collect(.POST, "/containers/\(id)/start")
    }

    /// Maps to `POST /containers/{id}/wait`: waits for the container to stop and returns its exit code.
    public func waitContainer(_ id: String) async throws(DockerClientError) -> Int64 {
        let answer = try await json(ContainerWaitResponse.self, .POST, "/containers/\(id)/wait")
        if let message = answer.error?.message, !message.isEmpty {
            throw .http(status: 200, message: message)
        }
        return answer.statusCode
    }

    /// Maps to `POST /containers/{id}/kill?signal=`.
    public func killContainer(_ id: String, signal: String = "KILL") async throws(DockerClientError) {
        try await collect(.POST, "/containers/\(id)/kill", query: [("signal", signal)])
    }

    /// Maps to `POST /containers/{id}/stop?t=`: SIGTERM, then SIGKILL after `timeout` seconds.
    public func stopContainer(_ id: String, timeout: Int) async throws(DockerClientError) {
        try await collect(.POST, "/containers/\(id)/stop", query: [("t", String(timeout))])
    }

    /// Maps to `DELETE /containers/{id}?force=1&v=1`.
    public func removeContainer(_ id: String) async throws(DockerClientError) {
        try await collect(.DELETE, "/containers/\(id)", query: [("force", "1"), ("v", "1")])
    }

    /// Maps to `GET /containers/json?all=1&filters={"label":[label]}`.
    public func listContainers(label: String) async throws(DockerClientError) -> [ContainerSummary] {
        let filters = #"{"label":["\#(label)"]}"#
        return try await json(
            [ContainerSummary].self, .GET, "/containers/json", query: [("all", "1"), ("filters", filters)])
    }

    /// Maps to `PUT /containers/{id}/archive?path=`: unpacks the tar archive `tar` at `path`.
    public func putArchive(_ id: String, path: String, tar: ByteBuffer) async throws(DockerClientError) {
        try await putArchive(id, path: path, body: .bytes(tar))
    }

    /// Maps to `PUT /containers/{id}/archive?path=`, with the archive streamed as it is read.
    public func putArchive(_ id: String, path: String, body: HTTPClientRequest.Body) async throws(DockerClientError) {
        let response = try await send(
            .PUT, "/containers/\(id)/archive", query: [("path", path)], body: body,
            contentType: "application/x-tar")
        do {
            _ = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw transportError(error)
        }
    }

    /// Maps to `GET /containers/{id}/logs?stdout=1&stderr=1`: what the container wrote so far,
    /// in the attach stream's frames.
    public func containerLogs(_ id: String) async throws(DockerClientError) -> HTTPClientResponse.Body {
        try await send(.GET, "/containers/\(id)/logs", query: [("stdout", "1"), ("stderr", "1")]).body
    }

    /// Maps to `GET /containers/{id}/archive?path=`: the file or folder at `path` as a tar stream.
    public func getArchive(_ id: String, path: String) async throws(DockerClientError) -> HTTPClientResponse.Body {
        try await send(.GET, "/containers/\(id)/archive", query: [("path", path)]).body
    }
}
