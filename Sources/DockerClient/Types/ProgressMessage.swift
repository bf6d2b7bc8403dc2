/// One JSON line of a streamed answer such as `POST /images/create`. An `error` inside a
/// `200` stream means the operation failed.
public struct ProgressMessage: Decodable, Sendable {
    public var id: String?
    public var status: String?
    public var progress: String?
    public var error: String?
    public var errorDetail: ErrorDetail?

    public struct ErrorDetail: Decodable, Sendable {
        public var message: String?
    }

    /// The line as a person would read it: `abc123: Downloading [==>   ] 1.2MB/3MB`.
    public var text: String {
        [id.map { "\($0):" }, status, progress].compactMap { $0 }.joined(separator: " ")
    }
}

/// The engine's error body: `{"message": "No such image: x"}`.
struct EngineErrorBody: Decodable {
    var message: String
}
