import PorterProtocol

/// One example of every version 2 message, and of `open`, `accept` and `done` for every service, each as Porter
/// writes it: members in Porter's order, compact, `/` unescaped.
enum MessageExamples {
    static let nonce = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    static let proof = "cU8L/SuaJj6G2y366yE9+Q7HzhHZzv+fE0vLg5xXEBg="
    static let mtime = #""mtime":{"seconds":1764606205,"nanoseconds":500}"#

    /// Connection messages (channel 0).
    static let connection = [
        #"{"type":"hello","versions":[1,2],"agent":"porter/0.2.0","nonce":"\#(nonce)"}"#,
        #"{"type":"hello","versions":[2],"agent":"porter/0.2.0","nonce":"\#(nonce)","limits":{"maxControlPayload":65536,"maxDataPayload":1048576}}"#,
        #"{"type":"welcome","version":2,"agent":"porter/0.2.0","server":"myhost","nonce":"\#(nonce)","auth":["hmac-sha256"],"limits":{"maxControlPayload":65536,"maxDataPayload":1048576,"idleTimeout":2.5,"maxChannels":128,"initialWindow":262144,"maxWindow":4194304,"maxGlobalRequests":16}}"#,
        #"{"type":"auth","method":"hmac-sha256","proof":"\#(proof)"}"#,
        #"{"type":"ready","proof":"\#(proof)"}"#,
        #"{"type":"ping","id":9007199254740991}"#,
        #"{"type":"pong","id":0}"#,
        #"{"type":"keepalive"}"#,
        #"{"type":"error","code":"flow-control","message":"data beyond the window on channel 3","fatal":true}"#,
        #"{"type":"global","id":1,"name":"file.mkdir","path":"photos/2026"}"#,
        #"{"type":"global","id":2,"name":"file.symlink","path":"latest","target":"photos/2026"}"#,
        #"{"type":"global","id":3,"name":"file.attrs","path":"photos","mode":493,\#(mtime)}"#,
        #"{"type":"global","id":4,"name":"file.truncate"}"#,
        #"{"type":"global.ok","id":1}"#,
        #"{"type":"global.fail","id":4,"code":"unknown-request","message":"this server has no request 'file.truncate'"}"#,
        #"{"type":"shutdown","grace":30}"#,
    ]

    /// Channel messages, each with the service of the channel it is decoded on.
    static let channel: [(service: ChannelService, json: String)] = [
        (
            .exec,
            #"{"type":"open","service":"exec","window":1048576,"argv":["sh","-c","ls /tmp"],"cwd":"src","env":{"LANG":"C.UTF-8"},"timeout":0.5,"pty":{"term":"xterm-256color","rows":24,"cols":80},"stdin":false}"#
        ),
        (
            .fileGet,
            #"{"type":"open","service":"file.get","window":8388608,"path":"a/b.txt","offset":4096,"prefix":"0123456789abcdef0123456789abcdef","checksum":"xxh128"}"#
        ),
        (
            .filePut,
            #"{"type":"open","service":"file.put","window":0,"path":"a/b.txt","size":9007199254740991,"mode":420,\#(mtime),"checksum":"sha256","resume":true}"#
        ),
        (.fileList, #"{"type":"open","service":"file.list","window":0,"path":"a","recursive":true}"#),
        (.echo, #"{"type":"open","service":"echo","window":262144}"#),
        (.chat, #"{"type":"open","service":"chat","window":0,"room":"lobby","name":"ada"}"#),
        (
            .forward,
            #"{"type":"open","service":"forward","window":1048576,"host":"127.0.0.1","port":8080,"originHost":"::1","originPort":51234}"#
        ),
        (.exec, #"{"type":"accept","window":262144,"pid":4242}"#),
        (.fileGet, #"{"type":"accept","window":0,"size":10,"offset":0,"mode":420,\#(mtime)}"#),
        (.filePut, #"{"type":"accept","window":4194304,"offset":4096,"prefix":"0123456789abcdef0123456789abcdef"}"#),
        (.fileList, #"{"type":"accept","window":0,"kind":"directory"}"#),
        (.echo, #"{"type":"accept","window":262144}"#),
        (.chat, #"{"type":"accept","window":0,"room":"lobby","name":"ada","members":["ada","bob"]}"#),
        (.forward, #"{"type":"accept","window":262144}"#),
        (.exec, #"{"type":"refuse","code":"too-many-channels","message":"at most 128 channels at once"}"#),
        (.exec, #"{"type":"reject","code":"bad-request","message":"signal 'BOGUS' is not one this server sends"}"#),
        (.fileGet, #"{"type":"done","digest":"0123456789abcdef0123456789abcdef"}"#),
        (.filePut, #"{"type":"done","size":10}"#),
        (
            .fileList,
            #"{"type":"done","directory":{"path":".","type":"directory","size":4096,"mode":493,\#(mtime)},"skipped":1,"skippedNames":["bad\\xFF"]}"#
        ),
        (.echo, #"{"type":"done"}"#),
        (.forward, #"{"type":"fail","code":"forward-error","message":"the target reset the connection"}"#),
        (.exec, #"{"type":"exec.signal","name":"INT"}"#),
        (.exec, #"{"type":"exec.resize","rows":50,"cols":132}"#),
        (.exec, #"{"type":"exec.exit","status":0,"timedOut":false,"duration":0.0042}"#),
        (.exec, #"{"type":"exec.exit","signal":"KILL","signalNumber":9,"timedOut":true,"duration":31536000}"#),
        (.filePut, #"{"type":"file.begin","offset":0}"#),
        (.filePut, #"{"type":"file.end","digest":"\#(String(repeating: "ab", count: 32))"}"#),
        (
            .fileList,
            #"{"type":"file.listing","entries":[{"path":"a/b","type":"file","size":3,"mode":420,\#(mtime)},{"path":"a/l","type":"symlink","size":1,"mode":511,\#(mtime),"target":"b"}]}"#
        ),
        (.chat, #"{"type":"chat.say","text":"hello / world"}"#),
        (.chat, #"{"type":"chat.msg","to":"bob","text":"hi"}"#),
        (.chat, #"{"type":"chat.nick","name":"ada2"}"#),
        (.chat, #"{"type":"chat.who"}"#),
        (.chat, #"{"type":"chat.message","from":"bob","text":"hi","private":true}"#),
        (.chat, #"{"type":"chat.presence","event":"renamed","name":"ada","newName":"ada2"}"#),
        (.chat, #"{"type":"chat.members","room":"lobby","members":["ada2","bob"]}"#),
    ]
}
