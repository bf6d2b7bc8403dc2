/// What went wrong talking to the Docker engine. `http` carries the engine's own message.
public enum DockerClientError: Error, Sendable, CustomStringConvertible {
    /// `DOCKER_HOST` or another setting is wrong.
    case configuration(String)
    /// The engine could not be reached, or the connection broke.
    case transport(String, cause: (any Error)?)
    /// The engine answered with an error status; `message` is its own (`No such image: x`).
    case http(status: Int, message: String)
    /// The engine's answer could not be read.
    case decoding(String)

    public var message: String {
        switch self {
        case .configuration(let message), .decoding(let message): message
        case .transport(let message, _): message
        case .http(_, let message): message
        }
    }

    public var description: String { message }

    /// The engine answered 404: no such image or container.
    public var isNotFound: Bool {
        if case .http(404, _) = self { return true }
        return false
    }
}
