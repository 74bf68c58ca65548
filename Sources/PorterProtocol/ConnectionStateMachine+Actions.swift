extension ConnectionStateMachine {
    /// The few actions one input produces, held inline: a frame costs no allocation to pass through the machine.
    public typealias Actions = InlineActions<Action>
}
