/// A Docker image reference, as `docker run` takes it: `[registry[:port]/]path[:tag][@digest]`.
///
/// A reference without a tag or digest means `:latest`.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// The repository, with its registry host when one is named: `registry:5000/team/tool`.
    public var repository: String
    public var tag: String?
    /// `algorithm:hex`, e.g. `sha256:…`.
    public var digest: String?

    /// Parses `text`, throwing a ``DrayError`` with code `invalidJob` that says what is wrong.
    public init(parsing text: String) throws(DrayError) {
        guard !text.isEmpty else { throw .invalidImage(text, "it is empty") }
        guard !text.contains(where: { $0.isWhitespace }) else { throw .invalidImage(text, "it contains white space") }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = String(rest[rest.index(after: at)...])
            guard Self.isDigest(digest) else {
                throw .invalidImage(text, "\"\(digest)\" is not a digest (algorithm:hex)")
            }
            self.digest = digest
            rest = rest[..<at]
        }
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tag = String(rest[rest.index(after: colon)...])
            guard Self.isTag(tag) else { throw .invalidImage(text, "\"\(tag)\" is not a valid tag") }
            self.tag = tag
            rest = rest[..<colon]
        }
        if let problem = Self.problem(withRepository: rest) { throw .invalidImage(text, problem) }
        repository = String(rest)
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// The full reference: `repository:tag`, `repository@digest` or both.
    public var description: String {
        var text = repository
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    /// The reference to pull: the digest when there is one, else the tag.
    public var pullTag: String { digest ?? tag ?? "latest" }

    private static func problem(withRepository repository: Substring) -> String? {
        guard !repository.isEmpty else { return "the repository name is empty" }
        // The registry's limit (the distribution spec's), checked here rather than at pull time.
        guard repository.utf8.count <= 255 else {
            return "the repository name is \(repository.utf8.count) characters long; at most 255 are allowed"
        }
        var components = repository.split(separator: "/", omittingEmptySubsequences: false)
        if let host = registryComponent(of: repository) {
            guard isRegistryHost(host) else { return "\"\(host)\" is not a valid registry host" }
            components.removeFirst()
        }
        for component in components {
            if component.isEmpty { return "a path component is empty" }
            if component.contains(where: \.isUppercase) { return "the repository name must be lowercase" }
            let allowed = component.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }
            guard allowed, component.first!.isLetterOrDigit, component.last!.isLetterOrDigit else {
                return "\"\(component)\" is not a valid path component"
            }
        }
        return nil
    }

    /// The registry the image is pulled from, `host[:port]` in lower case; Docker Hub's
    /// `docker.io` when the reference names none.
    public var registry: String {
        guard let host = Self.registryComponent(of: Substring(repository)) else { return "docker.io" }
        return Self.registryName(host)
    }

    /// A registry host as ``registry`` says it: in lower case, with Docker Hub's other names
    /// (`index.docker.io`, `registry-1.docker.io`) as `docker.io`.
    public static func registryName(_ host: Substring) -> String {
        let lower = host.lowercased()
        return ["index.docker.io", "registry-1.docker.io"].contains(lower) ? "docker.io" : lower
    }

    /// The first path component when it names a registry, as the docker CLI decides: it has a
    /// dot or a colon, or is `localhost`.
    private static func registryComponent(of repository: Substring) -> Substring? {
        let components = repository.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count > 1, let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost"
        else { return nil }
        return first
    }

    /// True for `host[:port]` with a valid host name or IPv4 address and port.
    public static func isRegistryHost(_ host: Substring) -> Bool {
        let parts = host.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.first, !name.isEmpty,
            name.allSatisfy({ $0.isASCII && ($0.isLetterOrDigit || $0 == "." || $0 == "-") })
        else { return false }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else { return false }
        }
        return true
    }

    private static func isTag(_ tag: String) -> Bool {
        guard let first = tag.first, tag.count <= 128, first.isASCII, first.isLetterOrDigit || first == "_" else {
            return false
        }
        return tag.allSatisfy { $0.isASCII && ($0.isLetterOrDigit || "_.-".contains($0)) }
    }

    private static func isDigest(_ digest: String) -> Bool {
        let parts = digest.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].count >= 32 else { return false }
        return parts[0].allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "+._-".contains($0)) }
            && parts[1].allSatisfy(\.isHexDigit)
    }
}

extension Character {
    fileprivate var isLetterOrDigit: Bool { isASCII && (isLetter || isNumber) }
}

extension DrayError {
    static func invalidImage(_ text: String, _ reason: String) -> DrayError {
        DrayError(.invalidJob, "\"\(text)\" is not a valid image reference: \(reason)")
    }
}
