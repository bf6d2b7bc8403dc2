import ArgumentParser
import AsyncHTTPClient
import DrayEngine
import DrayServer
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// The flags every client verb shares.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Dray server. (default: $DRAY_URL, or http://127.0.0.1:3000)", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("The server's token, sent as Authorization: Bearer. (default: $DRAY_TOKEN)"))
    var token: String?

    @Option(
        help: ArgumentHelp(
            "PEM certificates to trust for an https:// server, besides the system's. (default: $DRAY_CA_CERT)",
            valueName: "path"))
    var caCert: String?

    @Flag(help: "Write step output and names as they are, control characters and escape sequences included.")
    var raw = false

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    var baseURL: String {
        let base = url ?? environment["DRAY_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:3000"
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    func validate() throws {
        if let token = token ?? environment["DRAY_TOKEN"], !token.isEmpty, BearerToken(token) == nil {
            throw ValidationError("the token must be printable ASCII with no space")
        }
        _ = try api
    }

    /// The client these flags describe.
    var api: APIClient {
        get throws {
            let token = (token ?? environment["DRAY_TOKEN"]).flatMap(BearerToken.init)
            var tls: TLSConfiguration?
            if let path = caCert ?? environment["DRAY_CA_CERT"].flatMap({ $0.isEmpty ? nil : $0 }) {
                do {
                    var configuration = TLSConfiguration.makeClientConfiguration()
                    configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(path))]
                    tls = configuration
                } catch {
                    throw ValidationError("cannot read the certificates in \(path): \(error)")
                }
            }
            return APIClient(baseURL: baseURL, token: token, tls: tls)
        }
    }
}

/// A client of a Dray server's REST API, for the client verbs.
struct APIClient {
    let baseURL: String
    var token: BearerToken?
    /// How to trust an https:// server; nil uses the system's certificates.
    var tls: TLSConfiguration?

    /// A request to `path` on the server, with the token when there is one.
    func request(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token.value)") }
        request.tlsConfiguration = tls
        return request
    }

    struct Failure: Error, CustomStringConvertible {
        var status: Int?
        var message: String
        var description: String { message }
    }

    /// Sends a request and returns the answer's body, throwing the server's `error` message
    /// for any status of 400 or more.
    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
        var request = request(path)
        request.method = method
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
    func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
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

    func json<T: Decodable>(_ type: T.Type, _ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> T {
        let data = try await send(method, path, body: body)
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
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    static let decoder: JSONDecoder = {
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
}

extension AsyncParsableCommand {
    /// Runs a client call, turning its failure into a one-line message and exit 1.
    func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as APIClient.Failure {
            FileHandle.standardError.write(Data("dray: \(failure.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
