import Crypto
import Foundation

/// A job's webhook: an address told when the job starts or ends, by a JSON POST signed with
/// `secret` as GitHub signs its hooks (`X-Dray-Signature-256: sha256=<hex HMAC-SHA256 of the
/// body>`). The secret is kept as a secret variable is: never in an API answer, erased once
/// the job can no longer run.
public struct Webhook: Codable, Sendable, Equatable {
    public var url: String
    public var secret: String?
    /// When it is told: `end` (the default), `start`, or both.
    public var events: [WebhookEvent]?

    public init(url: String, secret: String? = nil, events: [WebhookEvent]? = nil) {
        self.url = url
        self.secret = secret
        self.events = events
    }

    /// Whether it is told of `event`.
    public func wants(_ event: WebhookEvent) -> Bool {
        (events ?? [.end]).contains(event)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, secret, events
    }

    public init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a webhook")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        if decoder.userInfo[EnvironmentVariable.valuesWithheld] as? Bool == true,
            (try? container.decodeIfPresent(Bool.self, forKey: .secret)) == true
        {
            // An API answer's `"secret": true`.
            secret = ""
        } else {
            secret = try container.decodeIfPresent(String.self, forKey: .secret)
        }
        events = try container.decodeIfPresent([WebhookEvent].self, forKey: .events)
    }

    /// Writes the secret only for an encoder that keeps secrets (the stores); an API answer
    /// says `"secret": true` in its place.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(url, forKey: .url)
        if let secret {
            if encoder.userInfo[EnvironmentVariable.keepSecrets] as? Bool == true {
                try container.encode(secret, forKey: .secret)
            } else {
                try container.encode(true, forKey: .secret)
            }
        }
        try container.encodeIfPresent(events, forKey: .events)
    }

    /// The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256 with `secret`.
    public static func signature(of body: Data, secret: String) -> String {
        "sha256=" + Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))).hex
    }

    /// The most webhooks a job may have.
    public static let limit = 10

    /// What is wrong with a job's webhooks, each naming its field.
    static func problems(in webhooks: [Webhook]?) -> [String] {
        guard let webhooks else { return [] }
        var problems: [String] = []
        if webhooks.count > limit { problems.append("webhooks must hold at most \(limit), not \(webhooks.count)") }
        for (index, webhook) in webhooks.enumerated() {
            let path = "webhooks[\(index)]"
            if WebhookAddress(webhook.url) == nil {
                problems.append(
                    "\(path).url must be an http or https URL with a host and no user or password, such as https://hooks.example.com/dray, not \"\(webhook.url.prefix(200))\""
                )
            }
            if let secret = webhook.secret, secret.isEmpty || secret.utf8.count > 1024 {
                problems.append("\(path).secret must be 1 to 1024 bytes")
            }
            if let events = webhook.events, events.isEmpty {
                problems.append("\(path).events must name start, end or both")
            }
        }
        return problems
    }
}

/// When a webhook is told.
public enum WebhookEvent: String, Codable, Sendable, CaseIterable {
    case start, end
}

/// A webhook's URL, checked: http or https, a host, no user or password.
public struct WebhookAddress: Sendable, Equatable {
    public var url: String
    /// `host` or `host:port`, lower case, as `--allow-webhook` names it.
    public var host: String
    public var port: Int?

    public init?(_ text: String) {
        guard text.utf8.count <= 2048, let parts = URLComponents(string: text),
            let scheme = parts.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parts.host, !host.isEmpty, parts.user == nil, parts.password == nil
        else { return nil }
        url = text
        self.host = host.lowercased()
        port = parts.port
    }
}

/// Which addresses a server sends webhooks to: any, but a loopback, link-local or private
/// address only when `--allow-webhook` names its host (or `host:port`), as registries are
/// refused (``RegistryPolicy``).
public struct WebhookPolicy: Sendable, Equatable {
    public var allowed: Set<String>

    public init(allowed: [String] = []) {
        self.allowed = Set(allowed.map { $0.lowercased() })
    }

    /// Whether the server sends to `url`.
    public func allows(_ address: WebhookAddress) -> Bool {
        if allowed.contains(address.host) { return true }
        if let port = address.port, allowed.contains("\(address.host):\(port)") { return true }
        return !HostAddress(address.host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))).isInternal
    }

    /// Each of a job's webhooks this server does not send to.
    public func problems(in job: Job) -> [String] {
        (job.webhooks ?? []).enumerated().compactMap { index, webhook in
            guard let address = WebhookAddress(webhook.url), !allows(address) else { return nil }
            return "webhooks[\(index)].url names \(address.host), a loopback, link-local or private address, "
                + "which this server sends webhooks to only when --allow-webhook names it"
        }
    }
}
