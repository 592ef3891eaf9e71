// slipway-step-guard: the parent of every step process, so that no step outlives the server.
//
//   slipway-step-guard PROGRAM [ARGUMENT...]
//
// The server starts it as the leader of the step's own process group, with standard input the
// read end of a pipe whose write end only the server holds. The guard starts PROGRAM in the same
// group (standard input /dev/null) and waits. When the pipe reports hang-up, every process that
// held the write end is gone, that is the server died (kill -9, OOM, power cut of a container),
// and the guard kills the whole group, grandchildren included.
//
// Why not PR_SET_PDEATHSIG on the step: Linux sends it when the *thread* that spawned the child
// exits, and the server spawns from a pool thread that the runtime retires after a few idle
// seconds, which would kill a healthy step. A pipe closes only when the process is gone.
//
// The guard ends as its child did: the same exit code, or the same signal, so the server sees
// the step's own outcome. SIGTERM, SIGINT or SIGHUP sent to the guard is passed on to every
// process of its group except bubblewrap's own (which would tear the sandbox down at once):
// the step gets the signal and its grace; SIGKILL to the group ends everything.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes to standard error (fd 2) without stdio's shared FILE.
func complain(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard !arguments.isEmpty else {
    complain("usage: slipway-step-guard PROGRAM [ARGUMENT...]\n")
    exit(64)
}

// Always the leader of a group of its own, so the kill below reaches the step and nothing else.
_ = setpgid(0, 0)

let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP]
// Held back, so the loop below picks them up and passes them on.
var held = sigset_t()
sigemptyset(&held)
for signal in forwarded { sigaddset(&held, signal) }
sigprocmask(SIG_BLOCK, &held, nil)

/// Sends `signal` to the group's processes but this one and bubblewrap's.
func passOn(_ signal: Int32) {
    let group = getpgrp(), me = getpid()
    guard let proc = opendir("/proc") else { return }
    defer { closedir(proc) }
    while let entry = readdir(proc) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = Int32(name), pid != me, getpgid(pid) == group else { continue }
        var command = [UInt8](repeating: 0, count: 64)
        let file = open("/proc/\(pid)/comm", O_RDONLY)
        guard file >= 0 else { continue }
        let count = read(file, &command, command.count)
        close(file)
        if count > 0, String(decoding: command[..<count], as: UTF8.self).hasPrefix("bwrap") { continue }
        kill(pid, signal)
    }
}

var actions = posix_spawn_file_actions_t()
posix_spawn_file_actions_init(&actions)
posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
var attributes = posix_spawnattr_t()
posix_spawnattr_init(&attributes)
// The step starts with the default dispositions the guard set aside for itself.
var nothing = sigset_t()
sigemptyset(&nothing)
posix_spawnattr_setsigdefault(&attributes, &held)
posix_spawnattr_setsigmask(&attributes, &nothing)
posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

var child: pid_t = 0
let cArguments = arguments.map { strdup($0) } + [nil]
let spawned = posix_spawnp(&child, arguments[0], &actions, &attributes, cArguments, environ)
guard spawned == 0 else {
    complain("slipway-step-guard: cannot start \(arguments[0]): \(String(cString: strerror(spawned)))\n")
    exit(127)
}

var server = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
while true {
    var status: Int32 = 0
    let reaped = waitpid(child, &status, WNOHANG)
    if reaped == child {
        let signal = status & 0x7f
        if signal == 0 { exit((status >> 8) & 0xff) }
        // Die of the same signal, so the server reads "killed by signal N" as from the step.
        _ = Glibc.signal(signal, SIG_DFL)
        raise(signal)
        exit(128 + signal)
    }
    if reaped < 0 && errno != EINTR { exit(70) }
    var immediately = timespec(tv_sec: 0, tv_nsec: 0)
    let pending = sigtimedwait(&held, nil, &immediately)
    if pending > 0 { passOn(pending) }
    server.revents = 0
    guard poll(&server, 1, 200) > 0 else { continue }
    if server.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
        // The server is gone: nobody reads the step's output or records its end.
        kill(0, SIGKILL)
    }
    // Readable without a hang-up (started by hand, on a file or a terminal): nothing to watch,
    // so only the child is waited for.
    usleep(200_000)
}
