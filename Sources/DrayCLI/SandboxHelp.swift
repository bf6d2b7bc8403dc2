import ArgumentParser

/// The help of `--no-sandbox`, which `dray run` and `dray serve` share.
enum SandboxHelp {
    static let noSandbox: ArgumentHelp =
        "Give every step a network of its own, as `docker run` does, rather than one per job that the job's steps join (a sandbox container, which makes each step start faster)."
}
