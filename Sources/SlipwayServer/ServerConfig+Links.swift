import Hummingbird
import SlipwayConfig

extension ServerConfig {
    /// Links in answers point where the caller reached the server, unless a public URL is configured.
    func baseURL(for request: Request) -> String {
        guard publicURL == nil, let host = request.head.authority else { return baseURL }
        return (tls == .disabled ? "http://" : "https://") + host
    }
}
