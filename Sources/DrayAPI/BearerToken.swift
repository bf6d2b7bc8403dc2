import Foundation

/// The token a client must present as `Authorization: Bearer <token>`.
public struct BearerToken: Sendable, Equatable {
    /// The token's text, as an operator would paste it into a client.
    public let value: String

    /// A token from a file's or a variable's text, without surrounding white space; nil when
    /// what is left is empty or has a character a header cannot carry (a token is printable
    /// ASCII, with no space).
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        value = trimmed
    }

    /// A new random token: 32 bytes from the system's secure generator, in hex.
    public static func random() -> BearerToken {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte, radix: 16).leftPadded(to: 2)
        }
        return BearerToken(hex.joined())!
    }

    /// True when an `Authorization` header's value carries this token, compared in constant
    /// time: how long the comparison takes does not tell how much of a guess was right.
    public func isPresented(in authorization: String) -> Bool {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        return Self.constantTimeEqual(Array(parts[1].utf8), Array(value.utf8))
    }

    /// Compares every byte of the longer side whatever the first difference, so only the
    /// length can be learned from the time taken.
    static func constantTimeEqual(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt8(presented.count == expected.count ? 0 : 1)
        for index in 0..<max(presented.count, expected.count) {
            let a = index < presented.count ? presented[index] : 0
            let b = index < expected.count ? expected[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
