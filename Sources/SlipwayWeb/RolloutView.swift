public import SlipwayCore

/// An app's rollout on its page: the steps as a progress bar, the tracks' pods, and the
/// analyses' measurements as a table and a small chart over time.
public struct RolloutView: Sendable {
    public struct Step: Sendable {
        public var number: Int
        public var text: String
        /// `done`, `current` or `pending`.
        public var state: String
        /// Stored: templates see stored properties only.
        public var isCurrent: Bool
    }

    public struct Point: Sendable {
        public var x: String
        public var y: String
        public var result: String
        public var label: String
    }

    public struct Measurement: Sendable {
        public var analysis: String
        public var step: Int
        public var time: ShownTime
        public var value: String
        public var result: String
        public var resultClass: String
        public var note: String?
    }

    public var commitShort: String
    public var jobID: Int64
    public var target: String
    public var phase: String
    public var phaseClass: String
    public var active: Bool
    public var message: String?
    public var steps: [Step]
    /// How far the rollout is, 0–100, for the progress bar.
    public var percent: Int
    public var weight: Int
    public var canaryReplicas: Int
    public var stableReplicas: Int
    public var promoteRequestedBy: String?
    public var abortRequestedBy: String?
    public var measurements: [Measurement]
    public var hasMeasurements: Bool
    /// The chart: measured values as points and a line, the success threshold dashed.
    public var points: [Point]
    public var line: String
    public var thresholds: [String]
    public static let chartWidth = 320.0
    public static let chartHeight = 80.0

    public init(_ state: RolloutState, promoteRequestedBy: String?, abortRequestedBy: String?) {
        let thresholds = (state.analyses ?? [:]).compactMapValues(SuccessCondition.init(parsing:))
        commitShort = String(state.commit.prefix(12))
        jobID = state.jobID
        target = state.target
        phase = state.phase.rawValue
        phaseClass = StatusStyle.cssClass(state.phase.rawValue)
        active = state.isActive
        message = state.message
        let done = state.phase == .promoted ? state.steps.count : state.step
        steps = state.steps.enumerated().map { index, text in
            let current = index >= done && index == state.step && state.isActive
            return Step(number: index + 1, text: text, state: index < done ? "done" : current ? "current" : "pending", isCurrent: current)
        }
        percent = state.steps.isEmpty ? 100 : min(100, done * 100 / state.steps.count)
        weight = state.weight
        canaryReplicas = state.canaryReplicas
        stableReplicas = state.stableReplicas
        self.promoteRequestedBy = promoteRequestedBy
        self.abortRequestedBy = abortRequestedBy
        measurements = state.measurements.reversed().map { measurement in
            Measurement(analysis: measurement.analysis, step: measurement.step + 1, time: ShownTime(measurement.time),
                        value: measurement.value.map(DurationText.number) ?? "no value", result: measurement.result.rawValue,
                        resultClass: StatusStyle.cssClass(measurement.result.rawValue), note: measurement.note)
        }
        hasMeasurements = !measurements.isEmpty
        let chart = Self.chart(state.measurements, thresholds: state.measurements.compactMap { thresholds[$0.analysis]?.threshold })
        points = chart.points
        line = chart.line
        self.thresholds = chart.thresholds
    }

    /// Points placed by time (x) and value (y, the thresholds within the range); a
    /// measurement without a value sits on the bottom edge.
    static func chart(_ measurements: [AnalysisMeasurement], thresholds: [Double]) -> (points: [Point], line: String, thresholds: [String]) {
        guard let first = measurements.first?.time, let last = measurements.last?.time else { return ([], "", []) }
        let values = measurements.compactMap(\.value) + thresholds
        let low = values.min() ?? 0, high = values.max() ?? 1
        let span = high - low == 0 ? 1 : high - low
        let duration = last.timeIntervalSince(first)
        let pad = 6.0
        func x(_ index: Int, _ measurement: AnalysisMeasurement) -> Double {
            let share = duration > 0 ? measurement.time.timeIntervalSince(first) / duration
                : measurements.count > 1 ? Double(index) / Double(measurements.count - 1) : 0.5
            return pad + share * (chartWidth - 2 * pad)
        }
        func y(_ value: Double) -> Double { chartHeight - pad - (value - low) / span * (chartHeight - 2 * pad) }
        func text(_ number: Double) -> String { String(format: "%.1f", number) }
        var points: [Point] = []
        var line: [String] = []
        for (index, measurement) in measurements.enumerated() {
            let px = x(index, measurement)
            let py = measurement.value.map(y) ?? chartHeight - 1
            points.append(Point(x: text(px), y: text(py), result: measurement.result.rawValue,
                                label: "\(measurement.analysis): \(measurement.value.map(DurationText.number) ?? "no value") (\(measurement.result.rawValue))"))
            if measurement.value != nil { line.append("\(text(px)),\(text(py))") }
        }
        return (points, line.joined(separator: " "), Array(Set(thresholds)).sorted().map { text(y($0)) })
    }
}
