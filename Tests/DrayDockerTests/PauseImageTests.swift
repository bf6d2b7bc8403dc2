import DockerClient
import Testing

@testable import DrayDocker

@Suite("The sandbox's pause program")
struct PauseImageTests {
    /// Reads a little-endian number of `size` bytes at `offset`.
    private func number(_ file: [UInt8], at offset: Int, size: Int) -> UInt64 {
        (0..<size).reduce(0) { $0 | UInt64(file[offset + $1]) << (8 * UInt64($1)) }
    }

    @Test(
        "an ELF executable for x86-64 and arm64 whose one segment is the whole file and starts at its code",
        arguments: [("amd64", 0x3e, 9), ("arm64", 0xb7, 28)])
    func executable(architecture: String, machine: Int, codeSize: Int) throws {
        let file = try #require(PauseImage.executable(architecture: architecture))
        #expect(Array(file.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])
        #expect(file.count == 64 + 56 + codeSize)
        #expect(number(file, at: 18, size: 2) == UInt64(machine))
        #expect(number(file, at: 24, size: 8) == 0x40_0000 + 120, "the entry is the code, after the headers")
        #expect(number(file, at: 64 + 32, size: 8) == UInt64(file.count), "the segment holds the whole file")
    }

    @Test("no program for another architecture: the steps then get networks of their own")
    func otherArchitecture() {
        #expect(PauseImage.executable(architecture: "s390x") == nil)
    }
}
