import ArgumentParser
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// `dray serve --otlp-endpoint`: OpenTelemetry traces, exported over OTLP/HTTP (protobuf) by
/// swift-otel. Without the flag no tracer is bootstrapped, and nothing is exported.
enum TraceExport {
    /// The URL the traces go to: `--otlp-endpoint` is a collector's base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is, and gets `/v1/traces`, unless it names that path itself.
    static func tracesURL(_ endpoint: String) throws -> String {
        guard let url = URLComponents(string: endpoint), ["http", "https"].contains(url.scheme ?? ""),
            url.host?.isEmpty == false, url.query == nil, url.fragment == nil
        else {
            throw ValidationError(
                "--otlp-endpoint must be an http or https URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318, not \(endpoint)"
            )
        }
        if url.path.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? endpoint : endpoint + "/") + "v1/traces"
    }

    /// Bootstraps the process's tracer to export to `endpoint`, and returns the service that
    /// exports (in batches, at most a second apart) and flushes what is left when it stops.
    /// The standard `OTEL_*` variables (headers, certificates, sampling) apply.
    static func start(endpoint: String, node: String, logger: Logger) throws -> any Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "dray"
        configuration.resourceAttributes["service.instance.id"] = node
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = try tracesURL(endpoint)
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }
}
