import Foundation
import PostgresNIO

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`, also
/// `postgresql://`, as libpq reads it (user and password percent-decoded).
struct PostgresURL {
    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var tls: PostgresClient.Configuration.TLS
    /// The URL without its password, for messages.
    var redacted: String

    init(_ text: String) throws {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw Self.bad(text, "it must start with postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw Self.bad(text, "it names no host") }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw Self.bad(text, "it names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw Self.bad(text, "it names no database (postgres://USER@HOST/DATABASE)")
        }
        if let port = components.port, !(1...65535).contains(port) { throw Self.bad(text, "its port is out of range") }
        self.user = user
        password = components.percentEncodedPassword?.removingPercentEncoding
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        self.database = database.removingPercentEncoding ?? database
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw Self.bad(text, "sslmode \"\(other)\" is not disable, prefer or require")
        }
        var shown = components
        if shown.password != nil { shown.password = "***" }
        redacted = shown.string ?? "postgres://\(host)"
    }

    static func bad(_ text: String, _ why: String) -> DrayErrorLike {
        DrayErrorLike(message: "the PostgreSQL URL is not one: \(why)")
    }
}

/// A store URL's mistake, as a message (the caller turns it into its own error).
struct DrayErrorLike: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
