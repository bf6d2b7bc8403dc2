import Foundation

/// One webhook delivery: a job's start or end told to an address, signed when it was made,
/// and tried until the address answers 2xx or an hour has passed (``WebhookSchedule``).
public struct Delivery: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Not answered 2xx yet: tried again at `nextAttemptAt`.
        case pending
        /// Answered 2xx.
        case delivered
        /// Not answered 2xx within the hour; no more tries.
        case failed
    }

    public var id: String
    public var job: String
    public var url: String
    public var event: WebhookEvent
    /// The JSON sent, the same at every try.
    public var body: Data
    /// `sha256=…` of the body, when the webhook has a secret.
    public var signature: String?
    public var status: Status
    public var attempts: Int
    /// The last try's HTTP status, or its error when it got none.
    public var responseStatus: Int?
    public var error: String?
    public var createdAt: Date
    public var nextAttemptAt: Date?
    public var deliveredAt: Date?

    public init(
        id: String = UUID().uuidString, job: String, url: String, event: WebhookEvent, body: Data,
        signature: String?, createdAt: Date = Date()
    ) {
        self.id = id
        self.job = job
        self.url = url
        self.event = event
        self.body = body
        self.signature = signature
        status = .pending
        attempts = 0
        self.createdAt = createdAt
        nextAttemptAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, job, url, event, body, signature, status, attempts, responseStatus, error, createdAt, nextAttemptAt
        case deliveredAt
    }

    /// Its body and signature are written only by an encoder that keeps secrets (the stores'):
    /// an API answer shows the rest.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(job, forKey: .job)
        try container.encode(url, forKey: .url)
        try container.encode(event, forKey: .event)
        if encoder.userInfo[EnvironmentVariable.keepSecrets] as? Bool == true {
            try container.encode(body, forKey: .body)
            try container.encodeIfPresent(signature, forKey: .signature)
        }
        try container.encode(status, forKey: .status)
        try container.encode(attempts, forKey: .attempts)
        try container.encodeIfPresent(responseStatus, forKey: .responseStatus)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(nextAttemptAt, forKey: .nextAttemptAt)
        try container.encodeIfPresent(deliveredAt, forKey: .deliveredAt)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        job = try container.decode(String.self, forKey: .job)
        url = try container.decode(String.self, forKey: .url)
        event = try container.decode(WebhookEvent.self, forKey: .event)
        body = try container.decodeIfPresent(Data.self, forKey: .body) ?? Data()
        signature = try container.decodeIfPresent(String.self, forKey: .signature)
        status = try container.decode(Status.self, forKey: .status)
        attempts = try container.decode(Int.self, forKey: .attempts)
        responseStatus = try container.decodeIfPresent(Int.self, forKey: .responseStatus)
        error = try container.decodeIfPresent(String.self, forKey: .error)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        nextAttemptAt = try container.decodeIfPresent(Date.self, forKey: .nextAttemptAt)
        deliveredAt = try container.decodeIfPresent(Date.self, forKey: .deliveredAt)
    }

    /// When it is due again in the store: `nextAttemptAt` while pending, else never.
    public var due: Date? { status == .pending ? nextAttemptAt : nil }
}

/// When a delivery is tried again: 1 s after its first try, doubling to at most 10 minutes,
/// for an hour from its making; then it has failed.
public enum WebhookSchedule {
    public static let window: Duration = .seconds(3600)

    /// The delivery after a try that did not get 2xx: pending with its next time, or failed.
    public static func retry(_ delivery: Delivery, at now: Date = Date()) -> Delivery {
        var delivery = delivery
        let delay = min(pow(2, Double(delivery.attempts - 1)), 600)
        let next = now.addingTimeInterval(delay)
        if next.timeIntervalSince(delivery.createdAt) > window.timeInterval {
            delivery.status = .failed
            delivery.nextAttemptAt = nil
        } else {
            delivery.nextAttemptAt = next
        }
        return delivery
    }
}

/// Where webhook deliveries wait and are kept, beside the jobs they tell of. Many nodes may
/// send: a node claims the due ones for a lease, and one whose node stopped is due again once
/// its lease runs out.
public protocol DeliveryStore: Sendable {
    /// Adds new deliveries, due at once.
    func addDeliveries(_ deliveries: [Delivery]) async throws
    /// A job's deliveries, oldest first.
    func deliveries(job: String) async throws -> [Delivery]
    /// Up to `limit` deliveries due at `now`, no longer due to any other node until `lease`
    /// has passed; each is given to one node only.
    func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [Delivery]
    /// Writes a try's outcome: due again at its `nextAttemptAt` while pending, else never.
    func updateDelivery(_ delivery: Delivery) async throws
}
