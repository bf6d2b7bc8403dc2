import AsyncHTTPClient
import DrayEngine
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A client of a Dray server's REST API, for the client verbs.
public struct APIClient: Sendable {
    public let baseURL: String
    public var token: BearerToken?
    /// How to trust an https:// server; nil uses the system's certificates.
    public var tls: TLSConfiguration?

    public init(baseURL: String, token: BearerToken?, tls: TLSConfiguration?) {
        self.baseURL = baseURL
        self.token = token
        self.tls = tls
    }

    /// A request to `path` on the server, with the token when there is one.
    public func request(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token.value)") }
        request.tlsConfiguration = tls
        return request
    }

    /// Why a call failed: the server's `error` message, or why it could not be reached.
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int?
        public var message: String
        public var description: String { message }
    }

    /// Sends a request and returns the answer's body, throwing the server's `error` message
    /// for any status of 400 or more.
    public func send(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = []
    ) async throws -> Data {
        var request = request(path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await execute(request, timeout: .seconds(60))
        do {
            return Data(buffer: try await response.body.collect(upTo: 256 << 20))
        } catch {
            throw Failure(message: "cannot reach the Dray server at \(baseURL): \(error)")
        }
    }

    /// Sends `request` and returns the answer, whose body is still to read; throws a
    /// ``Failure`` when the server cannot be reached, or with its `error` message for any
    /// status of 400 or more.
    public func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request, timeout: timeout)
        } catch {
            if "\(error)".contains("CERTIFICATE_VERIFY_FAILED") {
                throw Failure(
                    message: "cannot reach the Dray server at \(baseURL): its certificate is not trusted; "
                        + "give the certificate that signed it with --ca-cert or DRAY_CA_CERT (\(error))")
            }
            throw Failure(message: "cannot reach the Dray server at \(baseURL): \(error)")
        }
        guard response.status.code < 400 else {
            let data = try? await response.body.collect(upTo: 1 << 20)
            let message = data.flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }?["error"]
            if response.status == .unauthorized {
                throw Failure(
                    status: 401,
                    message:
                        "\(message ?? "the server asks for a token"); give the server's token with --token or DRAY_TOKEN"
                )
            }
            throw Failure(
                status: Int(response.status.code), message: message ?? "the server answered \(response.status)")
        }
        return response
    }

    public func json<T: Decodable>(
        _ type: T.Type, _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = []
    ) async throws -> T {
        let data = try await send(method, path, body: body, headers: headers)
        do {
            return try Self.decoder.decode(T.self, from: data)
        } catch {
            throw Failure(message: "cannot read the server's answer to \(method) \(path): \(error)")
        }
    }

    /// The process's HTTP client. Unlike `HTTPClient.shared` it does not retry a connection
    /// that fails (nothing listens, a certificate it cannot trust) until the request's deadline,
    /// so such a mistake is reported at once rather than after a minute. It lives as long as
    /// the process, so it is never shut down.
    public static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        // A job in an answer shows its secrets without their values.
        decoder.userInfo[EnvironmentVariable.valuesWithheld] = true
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
                ?? (try? Date(text, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0)
        }
        return decoder
    }()

    /// Reads the live log at `path` (`GET /jobs/{id}/log?follow=true…`) to its end, calling
    /// `onData` with each line's event data; the `end` event is not passed on.
    public func events(_ path: String, onData: (String) -> Void) async throws {
        try await events(path) { event in
            if event.type == "message" { onData(event.data) }
        }
    }

    /// Reads the server-sent events at `path` to their end, calling `onEvent` with each.
    public func events(_ path: String, onEvent: (LiveLog.Reader.Event) -> Void) async throws {
        var request = request(path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await execute(request, timeout: .hours(24 * 365))
        var reader = LiveLog.Reader()
        do {
            for try await chunk in response.body {
                for event in reader.feed(chunk) { onEvent(event) }
            }
        } catch {
            throw Failure(message: "the event stream from \(baseURL) broke: \(error)")
        }
    }
}
