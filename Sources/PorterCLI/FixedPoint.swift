/// Numbers written for people with a fixed number of decimals (`1.50`), and integers padded with zeros (`07`),
/// as `printf` would write them.
enum FixedPoint {
    /// `value` rounded to `places` decimals (0 to 9), with exactly that many digits after the point.
    static func text(_ value: Double, places: Int) -> String {
        precondition((0...9).contains(places), "decimals from 0 to 9")
        guard value.isFinite, abs(value) < 1e15 else { return String(value) }
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        let whole = String(scaled / scale)
        guard places > 0 else { return sign + whole }
        return sign + whole + "." + padded(Int(scaled % scale), width: places)
    }

    /// `value` (not negative) written with at least `width` digits, zeros in front.
    static func padded(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
