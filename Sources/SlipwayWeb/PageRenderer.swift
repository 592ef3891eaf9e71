import Mustache

/// Renders the dashboard's pages from the templates embedded in the binary. Every `{{value}}`
/// is HTML-escaped by Mustache; the only unescaped value is a log line, which `ANSIText`
/// escapes itself.
public struct PageRenderer: Sendable {
    private let library: MustacheLibrary

    public init() {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("layout", PackageResources.layout_mustache), ("login", PackageResources.login_mustache),
            ("apps", PackageResources.apps_mustache), ("app", PackageResources.app_mustache),
            ("jobs", PackageResources.jobs_mustache), ("job", PackageResources.job_mustache),
            ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in templates {
            // The templates are part of the build and a test renders each one: a broken one
            // cannot ship, so failing to parse it here is a programming error.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    public func render(_ page: LoginPage) -> String { render(page, "login") }
    public func render(_ page: AppsPage) -> String { render(page, "apps") }
    public func render(_ page: AppPage) -> String { render(page, "app") }
    public func render(_ page: JobsPage) -> String { render(page, "jobs") }
    public func render(_ page: JobPage) -> String { render(page, "job") }
    public func render(_ page: MessagePage) -> String { render(page, "message") }

    private func render(_ page: Any, _ template: String) -> String {
        library.render(page, withTemplate: template) ?? "template \(template) is missing"
    }
}
