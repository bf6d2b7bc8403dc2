import Crypto
import Foundation

/// A submit's `Idempotency-Key`: the client's key, the digest of the request it came with, and
/// how long the key holds (24 hours).
public struct IdempotencyKey: Sendable, Equatable {
    public var key: String
    public var digest: String
    public var lifetime: Duration

    public init(key: String, digest: String, lifetime: Duration = .seconds(24 * 3600)) {
        self.key = key
        self.digest = digest
        self.lifetime = lifetime
    }

    /// The SHA-256 of `bytes`, in hex: a request's digest, or a key's name in a store.
    public static func digest(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).hex
    }
}

/// What ``JobStore/create(_:idempotency:)`` did.
public enum IdempotentCreate: Sendable, Equatable {
    /// The job was added, and the key now names it.
    case created
    /// The key named a job already, made from a request of this digest: nothing was added.
    case existing(id: String, digest: String)
}
