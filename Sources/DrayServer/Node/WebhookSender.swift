import AsyncHTTPClient
import DrayAPI
import DrayEngine
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Tells webhooks of jobs' starts and ends. A start or an end becomes a delivery in the store,
/// signed then (so that the job's secrets may be erased); every node sends the deliveries it
/// claims there, retrying with exponential backoff for an hour (``WebhookSchedule``). A node
/// that stops mid-try loses nothing: its claim runs out and another node (or it, restarted)
/// tries again.
struct WebhookSender: Sendable {
    let store: any JobStore
    let policy: WebhookPolicy
    /// The server's own webhooks (`--webhook`), told of every job's end.
    let serverHooks: [Webhook]
    let metrics: DrayMetrics
    let logger: Logger
    let doorbell = Doorbell()

    /// How many deliveries a node sends at once, and how long it holds a claim.
    static let batch = 16
    static let lease: Duration = .seconds(60)
    static let timeout: TimeAmount = .seconds(10)

    /// What a webhook is sent: the event and the job's summary.
    struct Payload: Encodable {
        var event: WebhookEvent
        var job: Summary

        struct Summary: Encodable {
            var id: String
            var name: String?
            var status: JobStatus
            var phase: JobPhase
            var reason: FailureReason?
            var error: String?
            var stepsCompleted: Int
            var totalSteps: Int
            var node: String?
            var createdAt: Date
            var startedAt: Date?
            var finishedAt: Date?
        }
    }

    /// Stores a delivery of `event` for each webhook that wants it (the server's: the end only).
    func tell(_ record: JobRecord, as state: JobState, _ event: WebhookEvent) async {
        let hooks = (record.job.webhooks ?? []).filter { $0.wants(event) } + (event == .end ? serverHooks : [])
        guard !hooks.isEmpty else { return }
        let job = record.job
        let payload = Payload(
            event: event,
            job: .init(
                id: record.id, name: job.name, status: state.status, phase: state.phase, reason: state.reason,
                error: state.error, stepsCompleted: state.stepsCompleted, totalSteps: job.steps.count,
                node: record.node,
                createdAt: state.createdAt, startedAt: state.startedAt, finishedAt: state.finishedAt))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        guard let body = try? encoder.encode(payload) else { return }
        let deliveries = hooks.map { hook in
            Delivery(
                job: record.id, url: hook.url, event: event, body: body,
                signature: hook.secret.flatMap { $0.isEmpty ? nil : Webhook.signature(of: body, secret: $0) })
        }
        do {
            try await store.addDeliveries(deliveries)
            doorbell.ring()
        } catch {
            logger.error(
                "cannot store the job's webhook deliveries: \(error)",
                metadata: ["job": "\(record.id)", "event": "\(event)"])
        }
    }

    /// Sends what is due, at once when this node stored a delivery, and once a second for the
    /// others' and the retries, until the task is canceled.
    func run() async {
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: Self.timeout)))
        await withTaskGroup { group in
            group.addTask {
                for await _ in doorbell.rings { await sendDue(http) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    doorbell.ring()
                }
                doorbell.silence()
            }
            await group.waitForAll()
        }
        try? await http.shutdown()
    }

    /// Claims and sends the due deliveries, a batch at a time.
    func sendDue(_ http: HTTPClient) async {
        while !Task.isCancelled {
            let due: [Delivery]
            do {
                due = try await store.claimDeliveries(now: Date(), limit: Self.batch, lease: Self.lease)
            } catch {
                logger.warning("cannot claim webhook deliveries: \(error)")
                return
            }
            guard !due.isEmpty else { return }
            await withTaskGroup { group in
                for delivery in due { group.addTask { await send(delivery, http) } }
            }
        }
    }

    /// One try: 2xx delivers it; anything else is tried again later, or fails after the hour.
    func send(_ delivery: Delivery, _ http: HTTPClient) async {
        var delivery = delivery
        delivery.attempts += 1
        delivery.responseStatus = nil
        delivery.error = nil
        if let address = WebhookAddress(delivery.url), policy.allows(address) {
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "dray")
            request.headers.add(name: "X-Dray-Event", value: delivery.event.rawValue)
            request.headers.add(name: "X-Dray-Delivery", value: delivery.id)
            if let signature = delivery.signature {
                request.headers.add(name: "X-Dray-Signature-256", value: signature)
            }
            request.body = .bytes(ByteBuffer(data: delivery.body))
            do {
                let response = try await http.execute(request, timeout: Self.timeout)
                _ = try? await response.body.collect(upTo: 64 << 10)
                delivery.responseStatus = Int(response.status.code)
            } catch {
                delivery.error = "\(error)"
            }
        } else {
            // The policy changed since the job was submitted.
            delivery.error = "this server no longer sends webhooks to \(delivery.url)"
        }
        let now = Date()
        if let status = delivery.responseStatus, (200..<300).contains(status) {
            delivery.status = .delivered
            delivery.deliveredAt = now
            delivery.nextAttemptAt = nil
        } else {
            delivery = WebhookSchedule.retry(delivery, at: now)
        }
        metrics.webhookSent(
            delivered: delivery.status == .delivered, latency: now.timeIntervalSince(delivery.createdAt))
        if delivery.status == .failed {
            logger.warning(
                "a webhook delivery failed for an hour: no more tries",
                metadata: ["job": "\(delivery.job)", "delivery": "\(delivery.id)", "url": "\(delivery.url)"])
        }
        do {
            try await store.updateDelivery(delivery)
        } catch {
            logger.warning(
                "cannot record a webhook delivery's try: \(error)", metadata: ["delivery": "\(delivery.id)"])
        }
    }
}
