public import JSON

extension Account {
    /// Writes the account as the read API shows it (docs/read-api.md): exactly
    /// `{"id","owner","currency","balance","status","version","openedAt","updatedAt"}`.
    public func writeJSON(into buffer: inout [UInt8]) {
        JSONWriter.writeRaw("{\"id\":", into: &buffer)
        JSONWriter.writeString(id, into: &buffer)
        JSONWriter.writeRaw(",\"owner\":", into: &buffer)
        JSONWriter.writeString(owner, into: &buffer)
        JSONWriter.writeRaw(",\"currency\":", into: &buffer)
        JSONWriter.writeString(currency, into: &buffer)
        JSONWriter.writeRaw(",\"balance\":", into: &buffer)
        JSONWriter.writeInteger(balance, into: &buffer)
        JSONWriter.writeRaw(status == .open ? ",\"status\":\"open\"" : ",\"status\":\"closed\"", into: &buffer)
        JSONWriter.writeRaw(",\"version\":", into: &buffer)
        JSONWriter.writeInteger(version, into: &buffer)
        JSONWriter.writeRaw(",\"openedAt\":", into: &buffer)
        JSONWriter.writeString(openedAt, into: &buffer)
        JSONWriter.writeRaw(",\"updatedAt\":", into: &buffer)
        JSONWriter.writeString(updatedAt, into: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    /// Reads an account as `writeJSON(into:)` writes it: an object with exactly the eight
    /// fields, each of its JSON type, `status` "open" or "closed". Nil otherwise.
    public init?(json: JSONValue) {
        guard case .object(let members) = json, members.count == 8,
            case .string(let id)? = json["id"],
            case .string(let owner)? = json["owner"],
            case .string(let currency)? = json["currency"],
            let balance = json["balance"]?.int64Value,
            let statusName = json["status"]?.stringValue, let status = Status(rawValue: statusName),
            let version = json["version"]?.int64Value,
            case .string(let openedAt)? = json["openedAt"],
            case .string(let updatedAt)? = json["updatedAt"]
        else { return nil }
        // Eight members holding the eight names: no extra field, no duplicate.
        let names: Set<String> = ["id", "owner", "currency", "balance", "status", "version", "openedAt", "updatedAt"]
        guard Set(members.map(\.key)) == names else { return nil }
        self.init(
            id: id,
            owner: owner,
            currency: currency,
            balance: balance,
            status: status,
            version: version,
            openedAt: openedAt,
            updatedAt: updatedAt
        )
    }
}
