import PorterProtocol
import Testing

extension ConnectionStateMachine.Actions {
    /// The actions after the `authAttempt` that comes first in a server's answer to `auth`, which must record an
    /// attempt that was accepted.
    func afterAcceptedAttempt(sourceLocation: SourceLocation = #_sourceLocation) -> [ConnectionStateMachine.Action] {
        let actions = Array(self)
        guard case .authAttempt(let attempt) = actions.first, attempt.accepted else {
            Issue.record("expected an accepted attempt first: \(actions)", sourceLocation: sourceLocation)
            return actions
        }
        return Array(actions.dropFirst())
    }
}
