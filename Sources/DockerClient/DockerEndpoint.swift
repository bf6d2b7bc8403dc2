/// Where the Docker engine listens, as `DOCKER_HOST` says.
public enum DockerEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// A unix socket: `unix:///var/run/docker.sock`, the default.
    case unix(path: String)
    /// Plain TCP: `tcp://HOST:PORT`.
    case tcp(host: String, port: Int)
    /// TCP with TLS, verifying the engine's certificate and name: `tcp://HOST:PORT` with
    /// `DOCKER_TLS_VERIFY`. `certificates` is the folder of `ca.pem`, `cert.pem` and `key.pem`.
    case tls(host: String, port: Int, certificates: String)

    public static let defaultSocketPath = "/var/run/docker.sock"

    /// Reads `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` as the docker CLI does:
    /// any non-empty `DOCKER_TLS_VERIFY` means TLS, with the certificates in `DOCKER_CERT_PATH`
    /// (default `~/.docker`). TLS that does not verify the engine (`DOCKER_TLS` alone) is refused,
    /// and so is TLS over a unix socket: there is never a quiet fall back to clear text.
    public init(environment: [String: String]) throws(DockerClientError) {
        let dockerHost = environment["DOCKER_HOST"] ?? ""
        let verify = !(environment["DOCKER_TLS_VERIFY"] ?? "").isEmpty
        guard verify else {
            if !(environment["DOCKER_TLS"] ?? "").isEmpty {
                throw .configuration(
                    "DOCKER_TLS is set without DOCKER_TLS_VERIFY, which would not check the engine's certificate; "
                        + "Dray always checks it: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH")
            }
            try self.init(dockerHost: dockerHost)
            return
        }
        guard case .tcp(let host, let port) = try Self(dockerHost: dockerHost, defaultPort: 2376) else {
            throw .configuration(
                "DOCKER_TLS_VERIFY is set, but DOCKER_HOST \"\(dockerHost)\" is not tcp://HOST:PORT; "
                    + "TLS to the engine needs a TCP address")
        }
        var certificates = environment["DOCKER_CERT_PATH"] ?? ""
        if certificates.isEmpty {
            guard let home = environment["HOME"], !home.isEmpty else {
                throw .configuration("DOCKER_TLS_VERIFY is set, but neither DOCKER_CERT_PATH nor HOME is")
            }
            certificates = home + "/.docker"
        }
        self = .tls(host: host, port: port, certificates: certificates)
    }

    /// Parses a `DOCKER_HOST` value; empty means the default socket.
    public init(dockerHost: String) throws(DockerClientError) {
        try self.init(dockerHost: dockerHost, defaultPort: 2375)
    }

    private init(dockerHost: String, defaultPort: Int) throws(DockerClientError) {
        if dockerHost.isEmpty {
            self = .unix(path: Self.defaultSocketPath)
        } else if dockerHost.hasPrefix("unix://") {
            let path = String(dockerHost.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw .configuration(
                    "DOCKER_HOST \"\(dockerHost)\" must name an absolute socket path: unix:///path/to/docker.sock")
            }
            self = .unix(path: path)
        } else if dockerHost.hasPrefix("tcp://") {
            var rest = Substring(dockerHost.dropFirst("tcp://".count))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            let host: Substring
            let portText: Substring?
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                host = rest[rest.index(after: rest.startIndex)..<close]
                let after = rest[rest.index(after: close)...]
                portText = after.hasPrefix(":") ? after.dropFirst() : nil
            } else if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            } else {
                host = rest
                portText = nil
            }
            let port = portText.map { Int($0) } ?? defaultPort
            guard !host.isEmpty, let port, (1...65535).contains(port) else {
                throw .configuration("DOCKER_HOST \"\(dockerHost)\" is not tcp://HOST:PORT")
            }
            self = .tcp(host: String(host), port: port)
        } else {
            throw .configuration("DOCKER_HOST \"\(dockerHost)\" is neither unix:///PATH nor tcp://HOST:PORT")
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port), .tls(let host, let port, _): "tcp://\(Self.authority(host: host, port: port))"
        }
    }

    /// `host:port`, with an IPv6 host in brackets.
    static func authority(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
