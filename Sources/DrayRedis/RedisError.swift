/// What went wrong talking to Redis.
public enum RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Redis answered with an error reply, such as `WRONGPASS …` or `WRONGTYPE …`.
    case server(String)
    /// Redis could not be reached, or the connection was lost.
    case connection(String)
    /// Redis did not answer in time; the connection was dropped.
    case timeout(String)
    /// Redis sent something that is not RESP2.
    case protocolError(String)

    public var description: String {
        switch self {
        case .server(let message): "Redis answered: \(message)"
        case .connection(let message): message
        case .timeout(let message): message
        case .protocolError(let message): "Redis sent an unreadable reply: \(message)"
        }
    }
}
