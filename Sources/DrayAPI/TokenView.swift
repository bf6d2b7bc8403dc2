import DrayEngine
import Foundation

/// A project's token as `/tokens` answers it: never its hash; its text only in the answer to
/// `POST /tokens`, which made it.
public struct TokenView: Codable, Sendable {
    public var id: String
    public var name: String
    public var project: String
    public var scope: Scope
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var token: String?

    public init(_ record: AccessToken, token: String? = nil) {
        id = record.id
        name = record.name
        project = record.project
        scope = record.scope
        createdAt = record.createdAt
        expiresAt = record.expiresAt
        revokedAt = record.revokedAt
        self.token = token
    }
}
