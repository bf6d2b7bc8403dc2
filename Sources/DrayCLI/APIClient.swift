import ArgumentParser
import AsyncHTTPClient
import DrayAPI
import DrayEngine
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// The flags every client verb shares.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Dray server. (default: $DRAY_URL, or \(APIDefaults.url))", valueName: "url"))
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
        let base = url ?? environment["DRAY_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? APIDefaults.url
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
