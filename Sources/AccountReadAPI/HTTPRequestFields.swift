/// The request header fields the read API reads (validators and CORS); the server fills them.
public struct HTTPRequestFields: Sendable, Equatable {
    /// `If-None-Match`, several fields joined with `,`.
    public var ifNoneMatch: String?
    /// `Origin`: present on a cross-origin browser request.
    public var origin: String?
    /// `Access-Control-Request-Method` of a preflight.
    public var accessControlRequestMethod: String?
    /// `Access-Control-Request-Headers` of a preflight.
    public var accessControlRequestHeaders: String?

    public init(
        ifNoneMatch: String? = nil, origin: String? = nil, accessControlRequestMethod: String? = nil,
        accessControlRequestHeaders: String? = nil
    ) {
        self.ifNoneMatch = ifNoneMatch
        self.origin = origin
        self.accessControlRequestMethod = accessControlRequestMethod
        self.accessControlRequestHeaders = accessControlRequestHeaders
    }
}
