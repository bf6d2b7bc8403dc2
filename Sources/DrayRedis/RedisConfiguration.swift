import Foundation

/// Where Redis is and how to talk to it: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int = 6379
    /// The ACL user for `AUTH user password`; nil sends `AUTH password`.
    public var username: String?
    public var password: String?
    /// The database `SELECT`ed on every connection.
    public var database: Int = 0
    /// How many connections the pool opens at most.
    public var connections: Int = 4
    /// How long a command may wait for its reply before its connection is dropped.
    public var commandTimeout: Duration = .seconds(5)
    /// How long connecting may take (as long as the PostgreSQL store's).
    public var connectTimeout: Duration = .seconds(5)
    /// The first wait after a failed connection; doubled on each failure up to ``maximumBackoff``.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(2)

    public init(host: String, port: Int = 6379) {
        self.host = host
        self.port = port
    }

    /// Reads a `redis://` URL. A mistake is a message that says which part is wrong.
    public init(url text: String) throws(RedisURLError) {
        guard text.hasPrefix("redis://") else {
            if text.hasPrefix("rediss://") {
                throw RedisURLError("TLS (rediss://) is not supported; use redis:// on a trusted network")
            }
            throw RedisURLError("\"\(text)\" is not a redis:// URL: use redis://[:password@]host:port[/db]")
        }
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            throw RedisURLError("the Redis URL has no host: use redis://[:password@]host:port[/db]")
        }
        self.init(host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host)
        if let port = components.port {
            guard (1...65535).contains(port) else {
                throw RedisURLError("the Redis URL's port \(port) is not from 1 to 65535")
            }
            self.port = port
        }
        if let user = components.user, !user.isEmpty { username = user.removingPercentEncoding ?? user }
        if let password = components.password { self.password = password.removingPercentEncoding ?? password }
        let path = components.path.drop { $0 == "/" }
        if !path.isEmpty {
            guard let database = Int(path), database >= 0 else {
                throw RedisURLError("the Redis URL's database \"\(path)\" is not a number from 0")
            }
            self.database = database
        }
        if !(components.queryItems ?? []).isEmpty || components.fragment != nil {
            throw RedisURLError("the Redis URL has query parameters, which are not supported")
        }
    }

    /// The seed's Docker link variable, `REDIS_PORT=tcp://HOST:PORT`, as `docker run --link redis:redis`
    /// and the seed's compose file set it. Nil when it is not of that form.
    public static func redisURL(fromLinkVariable value: String) -> String? {
        guard value.hasPrefix("tcp://"), let components = URLComponents(string: value),
            let host = components.host, !host.isEmpty
        else { return nil }
        return "redis://\(host):\(components.port ?? 6379)"
    }

    /// The URL without its password, for logs and messages.
    public var redactedURL: String {
        var userInfo = ""
        if username != nil || password != nil {
            userInfo = (username ?? "") + (password == nil ? "" : ":***") + "@"
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(userInfo)\(shownHost):\(port)\(database == 0 ? "" : "/\(database)")"
    }
}

/// A `redis://` URL that cannot be used, and why.
public struct RedisURLError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
