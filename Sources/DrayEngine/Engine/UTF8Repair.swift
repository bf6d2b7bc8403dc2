extension String {
    /// Decodes `bytes` as UTF-8, as ``init(repairingUTF8:)-(UnsafeRawBufferPointer)`` does.
    public init(repairingUTF8 bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { String(repairingUTF8: $0) }
    }

    /// Decodes `bytes` as UTF-8, replacing each ill-formed subsequence with U+FFFD by the
    /// Unicode standard's "maximal subpart" practice: the same text as
    /// `String(decoding: bytes, as: UTF8.self)`.
    ///
    /// The standard library's repair restarts its validation after every error, which costs
    /// a third of the server's CPU when a step writes binary data (every line of it is
    /// logged). This makes one pass, and takes the standard library's path for valid text.
    public init(repairingUTF8 bytes: UnsafeRawBufferPointer) {
        if let valid = String(validating: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self) {
            self = valid
            return
        }
        // Each input byte yields at most the 3 bytes of U+FFFD.
        self.init(unsafeUninitializedCapacity: bytes.count * 3) { output in
            var written = 0
            func put(_ byte: UInt8) {
                output[written] = byte
                written += 1
            }
            var index = 0
            while index < bytes.count {
                let lead = bytes[index]
                if lead < 0x80 {
                    put(lead)
                    index += 1
                    continue
                }
                // How many continuation bytes follow the lead, and the range of the first one.
                var needed = 0
                var low: UInt8 = 0x80
                var high: UInt8 = 0xBF
                switch lead {
                case 0xC2...0xDF: needed = 1
                case 0xE0: (needed, low) = (2, 0xA0)
                case 0xE1...0xEC, 0xEE...0xEF: needed = 2
                case 0xED: (needed, high) = (2, 0x9F)
                case 0xF0: (needed, low) = (3, 0x90)
                case 0xF1...0xF3: needed = 3
                case 0xF4: (needed, high) = (3, 0x8F)
                default: break
                }
                var end = index + 1
                var found = 0
                while found < needed, end < bytes.count, (low...high).contains(bytes[end]) {
                    end += 1
                    found += 1
                    (low, high) = (0x80, 0xBF)
                }
                if needed > 0 && found == needed {
                    for offset in index..<end { put(bytes[offset]) }
                } else {
                    // The lead and the continuation bytes that fit it are one maximal subpart.
                    put(0xEF)
                    put(0xBF)
                    put(0xBD)
                }
                index = end
            }
            return written
        }
    }
}
