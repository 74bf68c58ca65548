#if canImport(Glibc)
    import Glibc
#endif

/// Times shown to people, in the local time zone as `ls -l` shows them.
enum LocalTime {
    /// `2026-12-01 14:05`: the minute `seconds` after 1970-01-01 UTC falls in, here.
    static func minutes(sinceEpoch seconds: Int64) -> String {
        var time = time_t(clamping: seconds)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return String(seconds) }
        let date = [
            String(Int(parts.tm_year) + 1900), FixedPoint.padded(Int(parts.tm_mon) + 1, width: 2),
            FixedPoint.padded(Int(parts.tm_mday), width: 2),
        ].joined(separator: "-")
        return
            "\(date) \(FixedPoint.padded(Int(parts.tm_hour), width: 2)):\(FixedPoint.padded(Int(parts.tm_min), width: 2))"
    }
}
