/// `GET /version`: the engine's version and the newest API version it speaks.
public struct SystemVersion: Codable, Sendable {
    public var version: String
    public var apiVersion: String
    /// The engine's processor architecture, as Go names it: `amd64`, `arm64`.
    public var arch: String?
    /// The engine's parts; Podman names itself here ("Podman Engine").
    public var components: [Component]?

    public struct Component: Codable, Sendable {
        public var name: String
        enum CodingKeys: String, CodingKey { case name = "Name" }
    }

    /// Podman's Docker-compatible service, rather than Docker.
    public var isPodman: Bool { components?.contains { $0.name.hasPrefix("Podman") } ?? false }

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case arch = "Arch"
        case components = "Components"
    }
}
