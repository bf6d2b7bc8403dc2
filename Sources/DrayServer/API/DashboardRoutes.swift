import Hummingbird
import NIOCore

/// The dashboard at `/`: one page, its script and its style, compiled into the binary. They
/// hold no data (the page reads the API, with the token when one is set), so they are served
/// without the token, with a content security policy that lets the page load nothing but them
/// and talk to nothing but this server. ``Routes/table`` serves them.
enum DashboardRoutes {
    struct File: Sendable {
        var type: String
        var body: ByteBuffer
        /// A strong validator, so that a reload costs a 304.
        var etag: String

        init(type: String, bytes: [UInt8]) {
            self.type = type
            body = ByteBuffer(bytes: bytes)
            // FNV-1a: a fingerprint of the bytes, not a secret.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            etag = "\"\(String(hash, radix: 16))\""
        }
    }

    static let files: [String: File] = [
        "/": File(type: "text/html; charset=utf-8", bytes: PackageResources.index_html),
        "/ui/dashboard.js": File(type: "text/javascript; charset=utf-8", bytes: PackageResources.dashboard_js),
        "/ui/dashboard.css": File(type: "text/css; charset=utf-8", bytes: PackageResources.dashboard_css),
    ]

    static let policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static func response(_ file: File, ifNoneMatch: String?) -> Response {
        var headers: HTTPFields = [
            .contentType: file.type, .eTag: file.etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: policy, .xContentTypeOptions: "nosniff", .init("Referrer-Policy")!: "no-referrer",
        ]
        if ifNoneMatch == file.etag {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.body))
    }
}
