import Foundation
import SlipwayCore
import SlipwayWebhooks

/// `slipway-webhook-bench wrk-script COUNT FILE [distinct|repeated] [SECRET]`: a Lua script for
/// wrk holding COUNT signed GitHub pushes to `/hooks/bench`, each with its own delivery id and
/// (`distinct`) its own commit or (`repeated`) one commit. wrk's threads take every n-th
/// request, so no two threads send the same delivery.
enum WrkScript {
    static func write(count: Int, to path: String, repeated: Bool, secret: String) throws {
        var lua = "local requests = {\n"
        lua.reserveCapacity(count * 1_200)
        let run = UUID().uuidString.prefix(8)
        for n in 0..<count {
            let (headers, body) = BenchPush.signed(n, commitNumber: repeated ? 1 : n + 1, deliveryID: "wrk-\(run)-\(n)", secret: secret)
            var request = "POST /hooks/bench HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.count)\r\n"
            for header in headers {
                request += "\(header.name): \(header.value)\r\n"
            }
            request += "\r\n" + String(decoding: body, as: UTF8.self)
            lua += "  " + luaString(request) + ",\n"
        }
        lua += """
            }
            local threads = {}
            function setup(thread)
              thread:set("id", #threads)
              thread:set("wrapped", 0)
              table.insert(threads, thread)
            end
            function init(args)
              step = tonumber(os.getenv("WRK_THREADS") or "2")
              next_index = id + 1
            end
            function request()
              local r = requests[next_index]
              next_index = next_index + step
              if next_index > #requests then
                next_index = id + 1
                wrapped = wrapped + 1
              end
              return r
            end
            function done(summary, latency, requests)
              -- A wrap sends the same deliveries again: duplicates, not the pushes asked for.
              for _, thread in ipairs(threads) do
                if thread:get("wrapped") > 0 then
                  io.stderr:write("wrk-script: the pushes ran out and started again; write more (COUNT)\\n")
                  return
                end
              end
            end

            """
        try lua.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A Lua long string cannot hold every byte safely; a quoted string with escapes can.
    private static func luaString(_ text: String) -> String {
        var out = "\""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7e: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\\(byte)"
            }
        }
        return out + "\""
    }
}
