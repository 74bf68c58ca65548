import Porter

/// One line of `--json` output: an object whose first key is `event`, then the event's fields in the order given.
struct JSONEvent: Sendable {
    /// The event's name, the value of its `event` field.
    let name: String
    /// The other fields, in order.
    let fields: [(String, JSONValue)]

    /// An event named `name` with `fields`; a field whose value is `nil` is left out.
    init(_ name: String, _ fields: KeyValuePairs<String, JSONValue?> = [:]) {
        self.name = name
        self.fields = fields.compactMap { key, value in value.map { (key, $0) } }
    }

    /// An event named `name` with `fields`, built up by code rather than written out.
    init(_ name: String, fields: [(String, JSONValue)]) {
        self.name = name
        self.fields = fields
    }

    /// The event as one line of JSON, newline included.
    var line: String {
        var text = ""
        JSONValue.object([("event", .string(name))] + fields).write(to: &text)
        return text + "\n"
    }
}
