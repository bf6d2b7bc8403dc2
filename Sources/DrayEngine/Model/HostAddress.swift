#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a host name or address in a `Host` header or an image's registry names, read as the
/// C library reads addresses: an IPv4 address in any spelling `inet_aton` takes (`127.1`,
/// `2130706433`, `0x7f000001`, `0177.0.0.1`), an IPv6 address (bracketed or not), or a name.
///
/// A check on the text ("starts with `127.` and has four parts") lets a DNS name such as
/// `127.a.attacker.example` through, and misses the other spellings: so every address rule
/// reads the address first.
public enum HostAddress: Sendable, Equatable {
    case ipv4(UInt32)
    case ipv6([UInt8])
    case name(String)

    /// Reads `host`, without a port: brackets are taken off an IPv6 address, a name is lowercased.
    public init(_ host: String) {
        var bare = host.lowercased()
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        if let address = Self.parseIPv4(bare) {
            self = .ipv4(address)
        } else if let address = Self.parseIPv6(bare) {
            self = .ipv6(address)
        } else {
            self = .name(bare)
        }
    }

    /// True for `localhost`, 127.0.0.0/8, `::1` and an IPv4-mapped loopback address: only this
    /// machine is reached. A name under `.localhost` is not: only a browser keeps it on loopback.
    public var isLoopback: Bool {
        switch self {
        case .name(let name): return name == "localhost"
        case .ipv4(let address): return address >> 24 == 127
        case .ipv6(let bytes):
            if let mapped = Self.mappedIPv4(bytes) { return mapped >> 24 == 127 }
            return bytes == [UInt8](repeating: 0, count: 15) + [1]
        }
    }

    /// True for this host or a private network: loopback, `*.localhost`, 0/8, 10/8, 100.64/10,
    /// 169.254/16, 172.16/12, 192.168/16, and in IPv6 `::`, fc00::/7 and fe80::/10.
    public var isInternal: Bool {
        switch self {
        case .name(let name): return name == "localhost" || name.hasSuffix(".localhost")
        case .ipv4(let address): return Self.isInternal(ipv4: address)
        case .ipv6(let bytes):
            if let mapped = Self.mappedIPv4(bytes) { return Self.isInternal(ipv4: mapped) }
            return isLoopback || bytes.allSatisfy { $0 == 0 } || bytes[0] & 0xFE == 0xFC
                || (bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80)
        }
    }

    private static func isInternal(ipv4 address: UInt32) -> Bool {
        let (a, b) = (address >> 24, (address >> 16) & 0xFF)
        switch (a, b) {
        case (127, _), (10, _), (0, _): return true
        case (172, 16...31), (192, 168), (169, 254), (100, 64...127): return true
        default: return false
        }
    }

    /// The IPv4 address of `::ffff:a.b.c.d`.
    private static func mappedIPv4(_ bytes: [UInt8]) -> UInt32? {
        guard bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
        return bytes[12...].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// An IPv4 address as `inet_aton` reads it: one to four parts, each decimal, octal (a
    /// leading 0) or hexadecimal (0x); the last part fills the bytes the others leave.
    public static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let value = number(part), value <= UInt64(UInt32.max) else { return nil }
            values.append(value)
        }
        var address: UInt64 = 0
        for (index, value) in values.dropLast().enumerated() {
            guard value <= 0xFF else { return nil }
            address |= value << (8 * (3 - UInt64(index)))
        }
        let lastBits = 8 * (5 - UInt64(parts.count))
        guard values.last! < (1 << lastBits) else { return nil }
        return UInt32(address | values.last!)
    }

    private static func number(_ part: Substring) -> UInt64? {
        guard !part.isEmpty, part.utf8.count <= 12 else { return nil }
        let lower = part.lowercased()
        if lower.hasPrefix("0x") { return lower.count == 2 ? 0 : UInt64(lower.dropFirst(2), radix: 16) }
        if lower.hasPrefix("0"), lower.count > 1 { return UInt64(lower.dropFirst(), radix: 8) }
        return lower.allSatisfy(\.isASCII) ? UInt64(lower, radix: 10) : nil
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
