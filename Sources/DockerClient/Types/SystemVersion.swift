/// `GET /version`: the engine's version and the newest API version it speaks.
public struct SystemVersion: Codable, Sendable {
    public var version: String
    public var apiVersion: String

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
    }
}
