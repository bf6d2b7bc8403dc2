/// Where a server listens unless told otherwise, and so where a client looks for one.
public enum APIDefaults {
    /// The seed's port: `dray serve`'s `--port`, and the port of the clients' default URL.
    public static let port = 3000

    /// The server a client verb talks to without `--url` or `DRAY_URL`.
    public static let url = "http://127.0.0.1:\(port)"
}
