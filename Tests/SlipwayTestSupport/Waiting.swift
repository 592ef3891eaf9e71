import Foundation

/// Polls `condition` until it holds or `timeout` passes (then throws): for waiting on
/// another process or a background task, never as a timing assertion.
public func waitFor(timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50),
                    _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw WaitTimeout(timeout: timeout)
}

public struct WaitTimeout: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "condition not met within \(timeout)" }
}

/// A loopback TCP port that was free a moment ago: for a server whose own URL must be in its
/// configuration before it starts (the pods of the kubernetes executor reach it there).
public func freeLoopbackPort() throws -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw NoFreePort() }
    return Int(UInt16(bigEndian: address.sin_port))
}

public struct NoFreePort: Error, CustomStringConvertible {
    public var description: String { "no free loopback port could be bound" }
}
