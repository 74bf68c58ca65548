/// A `group NAME HOST...` line of the client configuration file: several named servers that `porter exec` and
/// `porter hello` reach at once.
public struct ServerGroup: Sendable, Equatable {
    /// The group's name, given to a command in place of an endpoint.
    public var name: String
    /// The names of its hosts, in the file's order; each is a ``NamedServer`` of the same file.
    public var members: [String]
    /// The line of the `group` keyword, for messages.
    public var line: Int

    /// Creates a group.
    public init(name: String, members: [String], line: Int = 0) {
        self.name = name
        self.members = members
        self.line = line
    }
}
