import ArgumentParser

/// `dray completion bash|zsh|fish`: the shell's completion script for every verb, flag and
/// option, from the commands' own definitions (so it never goes stale).
struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the completion script of a shell: bash, zsh or fish.",
        discussion: """
            Load it for this shell with: source <(dray completion bash); or keep it: \
            dray completion bash > /etc/bash_completion.d/dray, \
            dray completion zsh > "${fpath[1]}/_dray", \
            dray completion fish > ~/.config/fish/completions/dray.fish.
            """)

    @Argument(help: ArgumentHelp("bash, zsh or fish.", valueName: "shell"))
    var shell: String

    func validate() throws {
        guard CompletionShell(rawValue: shell) != nil else {
            throw ValidationError("the shell must be bash, zsh or fish, not \"\(shell)\"")
        }
    }

    func run() {
        print(Dray.completionScript(for: CompletionShell(rawValue: shell)!))
    }
}
