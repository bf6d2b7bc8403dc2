import ArgumentParser
import AsyncHTTPClient
import DrayEngine
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The flags every client verb shares.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Dray server. (default: $DRAY_URL, or http://127.0.0.1:3000)", valueName: "url"))
    var url: String?

    var baseURL: String {
        let base =
            url ?? ProcessInfo.processInfo.environment["DRAY_URL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "http://127.0.0.1:3000"
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }
}

/// A client of a Dray server's REST API, for the client verbs.
struct APIClient {
    let baseURL: String

    struct Failure: Error, CustomStringConvertible {
        var status: Int?
        var message: String
        var description: String { message }
    }

    /// Sends a request and returns the answer's body, throwing the server's `error` message
    /// for any status of 400 or more.
    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + path)
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
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            throw Failure(message: "cannot reach the Dray server at \(baseURL): \(error)")
        }
        guard response.status.code < 400 else {
            let data = try? await response.body.collect(upTo: 1 << 20)
            let message = data.flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }?["error"]
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

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
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
