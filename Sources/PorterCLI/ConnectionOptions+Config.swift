import ArgumentParser
import Porter

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension ConnectionOptions {
    /// The config file in force (`--config`, else `$PORTER_CONFIG`, else `~/.porter/config` if it exists), or
    /// `nil` when there is none. A mistake in it is one line on standard error and exit status 64.
    func configFile() throws -> ClientConfigFile? {
        do {
            return try ClientConfigFile.load(option: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw usageError(error.message)
        }
    }

    /// The one server ENDPOINT names. A group is a usage error, since only `exec` and `hello` take one.
    func server(promptTime: Locked<Duration>) throws -> ServerTarget {
        let file = try configFile()
        if let file, let group = file.group(named: endpoint) {
            throw usageError(
                "\(endpoint) is a group in \(file.file): only `porter exec` and `porter hello` run on a group; give one of its hosts (\(group.members.joined(separator: ", ")))"
            )
        }
        if let named = file?.server(named: endpoint) {
            return target(for: named, promptTime: promptTime, interactive: true)
        }
        return ServerTarget(
            name: endpoint, endpoint: try Endpoint(parsing: endpoint), tokenFile: tokenFile, keyFile: key,
            transport: transport(promptTime: promptTime, named: nil, interactive: true),
            connectTimeout: (connectTimeout ?? Self.defaultConnectTimeout).value,
            unknownNameFile: file?.file ?? "\(ClientConfigFile.defaultName) (there is no such file)")
    }

    /// The group ENDPOINT names, with a target for each member, or `nil` if it names no group. Members never ask
    /// a person whether to trust a server met for the first time: each must be pinned or known already.
    func group() throws -> (group: ServerGroup, members: [ServerTarget])? {
        guard let file = try configFile(), let group = file.group(named: endpoint) else { return nil }
        let members = file.members(of: group).map { target(for: $0, promptTime: Locked(.zero), interactive: false) }
        return (group, members)
    }

    /// A host of the config file as a target, the command line's options winning over the file's.
    private func target(for named: NamedServer, promptTime: Locked<Duration>, interactive: Bool) -> ServerTarget {
        ServerTarget(
            name: named.name, endpoint: named.endpoint,
            tokenFile: tokenFile ?? (key == nil && named.keyFile == nil ? named.tokenFile : nil),
            keyFile: key ?? (tokenFile == nil ? named.keyFile : nil),
            transport: transport(promptTime: promptTime, named: named, interactive: interactive),
            connectTimeout: connectTimeout?.value ?? named.connectTimeout ?? Self.defaultConnectTimeout.value,
            unknownNameFile: nil)
    }

    /// Reports `message` as a usage error (one line on standard error, or an `error` event) and returns the
    /// exit status that goes with it, 64 as sysexits.h says.
    func usageError(_ message: String) -> ExitCode {
        output.events.failure(message, kind: "usage", exitStatus: ExitCode.validationFailure.rawValue)
    }
}
