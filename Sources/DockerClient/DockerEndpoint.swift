/// Where the Docker engine listens, as `DOCKER_HOST` says.
public enum DockerEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// A unix socket: `unix:///var/run/docker.sock`, the default.
    case unix(path: String)
    /// Plain TCP: `tcp://HOST:PORT`.
    case tcp(host: String, port: Int)

    public static let defaultSocketPath = "/var/run/docker.sock"

    /// Reads `DOCKER_HOST` (and refuses `DOCKER_TLS_VERIFY`, which this client does not speak yet,
    /// rather than talk in clear to an engine that expects TLS).
    public init(environment: [String: String]) throws(DockerClientError) {
        if let verify = environment["DOCKER_TLS_VERIFY"], !verify.isEmpty, verify != "0" {
            throw .configuration(
                "DOCKER_TLS_VERIFY is set, but Dray does not speak TLS to the Docker engine yet; "
                    + "unset it, or reach the engine through its unix socket")
        }
        try self.init(dockerHost: environment["DOCKER_HOST"] ?? "")
    }

    /// Parses a `DOCKER_HOST` value; empty means the default socket.
    public init(dockerHost: String) throws(DockerClientError) {
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
            let port = portText.map { Int($0) } ?? 2375
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
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }
}
