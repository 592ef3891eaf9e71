/// Says "due" at most once per interval.
actor Throttle {
    private let interval: Duration
    private var next = ContinuousClock.now

    init(every interval: Duration) {
        self.interval = interval
    }

    func isDue() -> Bool {
        let now = ContinuousClock.now
        guard now >= next else { return false }
        next = now + interval
        return true
    }
}
