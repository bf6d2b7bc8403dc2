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
