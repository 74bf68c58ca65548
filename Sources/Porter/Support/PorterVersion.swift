/// Porter's version.
public enum PorterVersion {
    /// The version of this build.
    public static let current = "0.1.0"
    /// The agent string sent in the handshake, e.g. `porter/0.1.0`.
    public static let agent = "porter/\(current)"
}
