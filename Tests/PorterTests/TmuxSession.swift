import Foundation

/// A terminal a person would use, for tests that drive `porter shell`: a tmux server of the test's own (so that a
/// developer's sessions are never touched) with one session running `command`.
struct TmuxSession: Sendable {
    private let tmux: [String]
    private let session: String

    /// Starts `command` (run by tmux's shell) in a detached session of `cols` × `rows`.
    static func start(_ command: String, cols: Int = 100, rows: Int = 30) async throws -> TmuxSession {
        let session = "porter-test-\(UInt32.random(in: .min ... .max))"
        let terminal = TmuxSession(tmux: ["tmux", "-L", session], session: session)
        let started = try await TestProcess.run(
            terminal.tmux + ["new-session", "-d", "-s", session, "-x", "\(cols)", "-y", "\(rows)", command])
        guard started.status == 0 else { throw TestFailure("tmux did not start: \(started.errors)") }
        return terminal
    }

    /// Types `keys` (tmux's names: `Enter`, `C-c`, or text).
    func keys(_ keys: String...) async throws {
        _ = try await TestProcess.run(tmux + ["send-keys", "-t", session] + keys)
    }

    /// What the terminal shows now.
    func screen() async throws -> String {
        try await TestProcess.run(tmux + ["capture-pane", "-p", "-t", session]).output
    }

    /// Waits until the terminal shows `text`.
    func waitFor(_ text: String, seconds: Double = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds * testSlowdown)
        while try await !screen().contains(text) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("'\(text)' never appeared; the screen:\n\(try await screen())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until a remote shell answers. Keys typed before it is up may be lost with the local terminal's
    /// input, so it asks until the shell answers; `false` if it never does.
    func waitForShell() async throws -> Bool {
        for _ in 0..<15 {
            try await keys("echo ready-$((20 + 1))", "Enter")
            if (try? await waitFor("ready-21", seconds: 2)) != nil { return true }
        }
        return false
    }

    /// Resizes the terminal, as a person dragging its window would.
    func resize(cols: Int, rows: Int) async throws {
        _ = try await TestProcess.run(tmux + ["resize-window", "-t", session, "-x", "\(cols)", "-y", "\(rows)"])
    }

    /// Ends the tmux server and everything in it.
    func kill() {
        _ = try? TestProcess.start(tmux + ["kill-server"])
    }
}
