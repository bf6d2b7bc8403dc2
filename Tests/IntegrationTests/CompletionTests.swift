import Foundation
import Testing

/// `dray completion bash|zsh|fish`, loaded into the real shells (`scripts/test` installs Debian's
/// zsh and fish), completing a verb and an option as a user's Tab would.
@Suite("Shell completion")
struct CompletionTests {
    /// `PATH` with the binary's folder first, as an installed `dray` is found.
    static var path: [String: String] {
        let folder = URL(fileURLWithPath: DrayProcess.binary).deletingLastPathComponent().path
        return ["PATH": folder + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    }

    /// What bash's Tab offers after `line`: the completion function called as bash calls it.
    static func bash(_ words: [String]) async throws -> [String] {
        let line = words.joined(separator: " ")
        let script = """
            source <(dray completion bash)
            COMP_WORDS=(\(words.joined(separator: " "))); COMP_CWORD=\(words.count - 1)
            COMP_LINE='\(line)'; COMP_POINT=\(line.utf8.count)
            _dray dray \(words.last!) \(words[words.count - 2])
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        return try await Shell.check(["bash", "-c", script], environment: path).split(separator: "\n").map(String.init)
    }

    @Test("bash completes a verb and a verb's option")
    func bash() async throws {
        #expect(try await Self.bash(["dray", "ta"]) == ["tap"])
        #expect(try await Self.bash(["dray", "serve", "--otlp"]) == ["--otlp-endpoint"])
    }

    @Test("fish completes a verb and a verb's option, with their help")
    func fish() async throws {
        let verbs = try await Shell.check(
            ["fish", "-c", #"dray completion fish | source; complete -C "dray ta""#], environment: Self.path)
        #expect(verbs.hasPrefix("tap\t"), "\(verbs)")
        let options = try await Shell.check(
            ["fish", "-c", #"dray completion fish | source; complete -C "dray serve --otlp""#], environment: Self.path)
        #expect(options.hasPrefix("--otlp-endpoint\t"), "\(options)")
    }

    @Test("zsh loads the completion function")
    func zsh() async throws {
        let loaded = try await Shell.check(
            ["zsh", "-c", "autoload -U compinit && compinit -u; source <(dray completion zsh); whence -w _dray"],
            environment: Self.path)
        #expect(loaded == "_dray: function")
    }

    @Test("another shell is a usage error that names the three")
    func unknown() async throws {
        let output = try await DrayProcess.run(["completion", "tcsh"])
        #expect(output.status == 64)
        #expect(output.stderr.contains("bash, zsh or fish"), "\(output.stderr)")
    }
}
