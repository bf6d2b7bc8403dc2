import ArgumentParser
import AsyncHTTPClient
import DrayAPI
import Foundation
import NIOSSL

/// `dray healthcheck`: exits 0 when a server's `/healthz` answers 200, for a container's
/// `HEALTHCHECK`, which has no curl in Dray's image.
struct HealthCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 when a Dray server's /healthz answers, else 1; for a container's HEALTHCHECK.",
        discussion: """
            Sends no token (/healthz needs none). Over https it does not check the certificate: it \
            only asks whether the server is up, and sends nothing secret.
            """)

    @Option(
        help: ArgumentHelp(
            "The server. (default: $DRAY_URL, or http://127.0.0.1:$PORT, https when $DRAY_TLS_CERT is set)",
            valueName: "url"))
    var url: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout = 5

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    private var baseURL: String {
        let environment = ProcessInfo.processInfo.environment
        if let url { return url }
        if let url = environment["DRAY_URL"], !url.isEmpty { return url }
        let scheme = (environment["DRAY_TLS_CERT"] ?? "").isEmpty ? "http" : "https"
        return "\(scheme)://127.0.0.1:\(environment["PORT"].flatMap { Int($0) } ?? APIDefaults.port)"
    }

    func run() async throws {
        let target = (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/healthz"
        var request = HTTPClientRequest(url: target)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        request.tlsConfiguration = tls
        do {
            let response = try await APIClient.http.execute(request, timeout: .seconds(Int64(timeout)))
            _ = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok else {
                FileHandle.standardError.write(Data("dray: \(target) answered \(response.status)\n".utf8))
                throw ExitCode(1)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("dray: \(target) does not answer: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
