/// Which registries a server pulls steps' images from.
///
/// A job's `source` makes the engine connect to the registry it names, and the engine's error
/// comes back in the job: a source such as `127.0.0.1:3000/x` would let a job reach the
/// host's own services. So a server refuses, at submission, a registry that is a loopback,
/// link-local or private address; with `--allow-registry`, it pulls from those named only.
/// `dray run`, a local user's own tool, has no policy.
public struct RegistryPolicy: Sendable, Equatable {
    /// `--allow-registry`: when not empty, the only registries (`host[:port]`, lower case) allowed.
    public var allowed: Set<String>

    public init(allowed: [String] = []) {
        self.allowed = Set(allowed.map { $0.lowercased() })
    }

    /// Each step whose image comes from a registry this server does not pull from.
    public func problems(in job: Job) -> [String] {
        job.steps.enumerated().compactMap { index, step in
            guard let image = try? ImageReference(parsing: step.source) else { return nil }
            let registry = image.registry
            let path = "steps[\(index)].source"
            guard !allows(registry) else { return nil }
            if !allowed.isEmpty {
                return "\(path) names the registry \(registry), which this server does not pull from; "
                    + "it allows \(allowed.sorted().joined(separator: ", "))"
            }
            return "\(path) names the registry \(registry), a loopback, link-local or private address, "
                + "which this server pulls from only when --allow-registry names it"
        }
    }

    /// Whether this server connects to `host[:port]`: one that `allowed` names, or when it
    /// names none, any but a loopback, link-local or private address. The same policy serves
    /// every address a job or a store gives the server: registries, and peers' advertised URLs.
    public func allows(_ hostPort: String) -> Bool {
        let address = hostPort.lowercased()
        if !allowed.isEmpty { return allowed.contains(address) }
        return !Self.isInternal(address)
    }

    /// True for a registry on this host or a private network, named by its address in any
    /// spelling (see ``HostAddress``). (A name that resolves to such an address is not looked up.)
    static func isInternal(_ registry: String) -> Bool {
        // A registry is `host[:port]`, never an IPv6 address (see ImageReference.isRegistryHost).
        HostAddress(registry.split(separator: ":").first.map(String.init) ?? registry).isInternal
    }
}
