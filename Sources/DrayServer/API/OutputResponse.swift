import AsyncHTTPClient
import DrayEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFileSystem
import NIOHTTP1

/// A spooled output as an HTTP answer, byte for byte: its `Content-Length`, an `ETag` and a
/// `Digest` (its SHA-256), `If-None-Match`, and one byte range (`Range`, `If-Range`).
enum OutputResponse {
    /// A request from another node that forwarded it: it is answered here or not at all.
    static let forwardedHeader = HTTPField.Name("X-Dray-Forwarded-By")!
    static let digestHeader = HTTPField.Name("Digest")!

    static func file(_ path: FilePath, digest: SpoolDigest, request: Request) throws -> Response {
        let etag = "\"sha256-\(digest.sha256)\""
        var headers: HTTPFields = [
            .contentType: "application/octet-stream", .eTag: etag, .acceptRanges: "bytes",
            digestHeader: "sha-256=\(digest.base64)",
        ]
        if let match = request.headers[.ifNoneMatch], match == etag || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int64>?
        if let asked = request.headers[.range], request.headers[.ifRange].map({ $0 == etag }) ?? true {
            range = try byteRange(asked, size: digest.size)
        }
        let start = range?.lowerBound ?? 0
        let length = range.map { $0.upperBound - $0.lowerBound + 1 } ?? digest.size
        if let range {
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(digest.size)"
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
                var left = length
                for try await chunk in handle.readChunks(in: start..<(start + length), chunkLength: .kibibytes(256)) {
                    left -= Int64(chunk.readableBytes)
                    try await writer.write(chunk)
                    if left <= 0 { break }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: range == nil ? .ok : .partialContent, headers: headers, body: body)
    }

    /// The one range of `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX` within `size`
    /// bytes; nil (the whole file) for several ranges; a 416 naming the header for one that
    /// cannot be read or lies past the end.
    static func byteRange(_ header: String, size: Int64) throws -> ClosedRange<Int64>? {
        let unsatisfiable = { (why: String) -> APIError in
            var error = APIError(.rangeNotSatisfiable, "Range \"\(header)\" \(why); the output has \(size) bytes")
            error.headers[.contentRange] = "bytes */\(size)"
            return error
        }
        guard header.hasPrefix("bytes=") else { throw unsatisfiable("is not bytes=FIRST-LAST") }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else { return nil }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw unsatisfiable("is not bytes=FIRST-LAST") }
        let first = parts[0].isEmpty ? nil : Int64(parts[0])
        let last = parts[1].isEmpty ? nil : Int64(parts[1])
        switch (parts[0].isEmpty, parts[1].isEmpty) {
        case (true, false):
            guard let suffix = last, suffix > 0 else { throw unsatisfiable("asks for no bytes") }
            guard size > 0 else { throw unsatisfiable("asks for bytes of an empty output") }
            return max(0, size - suffix)...(size - 1)
        case (false, _):
            guard let first, parts[1].isEmpty || last != nil, first <= (last ?? .max) else {
                throw unsatisfiable("is not bytes=FIRST-LAST with FIRST at most LAST")
            }
            guard first < size else { throw unsatisfiable("starts past the end") }
            return first...min(last ?? (size - 1), size - 1)
        default:
            throw unsatisfiable("is not bytes=FIRST-LAST")
        }
    }

    /// The same request sent on to the node that holds the output, at `url`, with the
    /// caller's token and conditions; its answer is passed back as it comes.
    /// `timeout` bounds the whole answer: a tap's lasts as long as its step.
    static func forward(
        _ request: Request, to url: String, path: String, from node: String, timeout: TimeAmount = .seconds(30)
    ) async throws -> Response {
        var outgoing = HTTPClientRequest(url: url + path)
        outgoing.method = .GET
        for name in [HTTPField.Name.authorization, .range, .ifRange, .ifNoneMatch] {
            if let value = request.headers[name] { outgoing.headers.add(name: name.rawName, value: value) }
        }
        outgoing.headers.add(name: forwardedHeader.rawName, value: node)
        let answer: HTTPClientResponse
        do {
            answer = try await HTTPClient.shared.execute(outgoing, timeout: timeout)
        } catch {
            throw APIError(.badGateway, "the node that holds the output, at \(url), does not answer: \(error)")
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            guard let field = HTTPField.Name(name),
                [.contentType, .contentLength, .contentRange, .eTag, .acceptRanges, digestHeader].contains(field)
            else { continue }
            headers[field] = value
        }
        let length = answer.headers.first(name: "content-length").flatMap(Int.init)
        let body = ResponseBody(contentLength: length) { writer in
            for try await chunk in answer.body { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: body)
    }
}
