import NIOCore

extension PorterChildChannel {
    /// The channel's options, read and set on its event loop without a future.
    struct SynchronousOptions: NIOSynchronousChannelOptions {
        let channel: PorterChildChannel

        func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
            try channel.setOption0(option, value: value)
        }

        func getOption<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
            try channel.getOption0(option)
        }
    }
}
