import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension UnsafeRawBufferPointer {
    /// The offset of the first `byte` at or after `start`, found with `memchr`: a byte-by-byte
    /// search is many times slower, and this runs over every byte a step writes.
    package func firstIndex(of byte: UInt8, from start: Int) -> Int? {
        guard start < count, let base = baseAddress else { return nil }
        guard let found = memchr(base + start, Int32(byte), count - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}

extension ByteBuffer {
    /// The offset from the reader index of the first `byte`, or nil.
    package func readableOffset(of byte: UInt8) -> Int? {
        withUnsafeReadableBytes { $0.firstIndex(of: byte, from: 0) }
    }

    /// How many newlines it holds: a loop without branches, which the compiler vectorizes, as it
    /// runs over every byte a step passes on.
    package var newlineCount: Int {
        withUnsafeReadableBytes { bytes in
            var count = 0
            for byte in bytes { count &+= byte == 0x0A ? 1 : 0 }
            return count
        }
    }
}
