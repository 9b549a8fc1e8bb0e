using System.Diagnostics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Tracer.Errors;
using Tracer.Input;

namespace Tracer.Telemetry;

/// <summary>Where to send OTLP: the endpoint and protocol (grpc or http/protobuf).</summary>
internal sealed record OtlpTarget(Uri Endpoint, OtlpExportProtocol Protocol)
{
    /// <summary>The endpoint that turns export off, whatever OTEL_EXPORTER_OTLP_ENDPOINT says.</summary>
    public const string None = "none";

    public static readonly IReadOnlyList<string> Protocols = ["grpc", "http/protobuf"];

    /// <summary>
    /// From <c>--otlp-endpoint</c>/<c>--otlp-protocol</c> (already checked), else the standard
    /// OTEL_EXPORTER_OTLP_* variables; null when none names an endpoint, or it is <c>none</c> (then nothing is exported).
    /// </summary>
    public static OtlpTarget? From(string? endpoint, string? protocol)
    {
        if (endpoint == None)
            return null;
        var variable = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } v ? v : null;
        var uri = endpoint is not null ? ParseEndpoint(endpoint)
            : variable is null ? null
            : ParseEndpoint(variable) ?? throw new UserError(
                $"OTEL_EXPORTER_OTLP_ENDPOINT {ArgumentParsers.Quote(variable)} is not an http:// or https:// URL.",
                "Set it to the collector's OTLP address, e.g. http://jaeger:4317, or unset it.", ExitCodes.Usage);
        if (uri is null)
            return protocol is null ? null : throw new UserError(
                "--otlp-protocol needs an endpoint to export to.",
                "Add --otlp-endpoint URL (or set OTEL_EXPORTER_OTLP_ENDPOINT).", ExitCodes.Usage);
        var variableProtocol = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL") is { Length: > 0 } p ? p : null;
        return (protocol ?? variableProtocol ?? "grpc") switch
        {
            "grpc" => new OtlpTarget(uri, OtlpExportProtocol.Grpc),
            "http/protobuf" => new OtlpTarget(uri, OtlpExportProtocol.HttpProtobuf),
            var other => throw new UserError($"OTEL_EXPORTER_OTLP_PROTOCOL {ArgumentParsers.Quote(other)} is not grpc or http/protobuf.",
                                             "Set it to grpc or http/protobuf, or unset it (grpc).", ExitCodes.Usage),
        };
    }

    /// <summary>An absolute http(s) URL, or null.</summary>
    public static Uri? ParseEndpoint(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0 ? uri : null;

    /// <summary>The --otlp-endpoint option and OtlpEndpoint setting: an http(s) URL, or none.</summary>
    public static string? ParseEndpointSetting(string text, out string? error)
    {
        error = text == None || ParseEndpoint(text) is not null ? null
            : $"{ArgumentParsers.Quote(text)} is not an http:// or https:// URL, or none (e.g. http://jaeger:4317)";
        return error is null ? text : null;
    }
}

/// <summary>
/// Telemetry for the whole process: one resource; spans over OTLP when there is an endpoint; the metrics
/// (<see cref="DropMetrics"/>) to every reader there is, OTLP and a Prometheus scrape endpoint, so both report
/// the same numbers. Attribute names: docs/opentelemetry.md; metric names: docs/metrics.md.
/// </summary>
internal sealed class TelemetryExport : IDisposable
{
    public const string SourceName = DropMetrics.MeterName;

    /// <summary>The scrape path on the daemon's health port.</summary>
    public const string MetricsPath = "/metrics";

    private static readonly string Version = typeof(TelemetryExport).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>
    /// Spans that may wait for the collector. While it is down, or hangs (a black hole that accepts and never
    /// answers holds every export for its whole timeout), ended episodes queue here; past this many the SDK drops
    /// new spans instead of growing, so memory stays bounded whatever the collector does. An episode span carries
    /// its culprit's evidence and the most dropped peers and ports (a few kB with the Activity): the SDK's default
    /// of 2048 could hold several MB on a node where many pods drop at once; 512 is still minutes of episodes of
    /// a node's pods (one per pod and culprit, a minute long at most).
    /// </summary>
    internal const int SpanQueue = 512;

    private readonly TracerProvider? _tracing;
    private readonly MeterProvider? _metrics;

    /// <param name="otlp">Where spans and metrics are pushed; null: nowhere.</param>
    /// <param name="metricsPort">The port whose <see cref="MetricsPath"/> serves the metrics to Prometheus; null: not served.</param>
    public TelemetryExport(OtlpTarget? otlp, int? metricsPort, ILogger logger)
    {
        var resource = ResourceBuilder.CreateEmpty()
            .AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? "tracer", serviceVersion: Version)
            .AddAttributes(NodeAttributes())
            .AddEnvironmentVariableDetector();
        if (otlp is not null)
        {
            var endpoint = otlp.Endpoint.ToString();
            _tracing = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(SourceName)
                .AddProcessor(new BatchActivityExportProcessor(
                    new WatchedTraceExporter(Options(otlp, "v1/traces"), new ExportWatch("spans", endpoint, logger, Metrics.ExportFailures)),
                    maxQueueSize: SpanQueue, maxExportBatchSize: SpanQueue / 2))
                .Build();
        }
        try
        {
            _metrics = BuildMetrics(resource, otlp, metricsPort, logger);
        }
        catch (InvalidOperationException e) when (metricsPort is not null)
        {
            // The port is taken: the health endpoint says so too; OTLP still gets the metrics.
            logger.LogError("metrics: cannot serve {Path} on port {Port} ({Error}); set HealthPort to a free port",
                            MetricsPath, metricsPort, e.InnerException?.Message ?? e.Message);
            _metrics = BuildMetrics(resource, otlp, metricsPort: null, logger);
        }
    }

    private MeterProvider? BuildMetrics(ResourceBuilder resource, OtlpTarget? otlp, int? metricsPort, ILogger logger)
    {
        if (otlp is null && metricsPort is null)
            return null;
        var metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(DropMetrics.MeterName);
        if (otlp is not null)
            metrics.AddReader(new PeriodicExportingMetricReader(
                new WatchedMetricExporter(Options(otlp, "v1/metrics"), new ExportWatch("metrics", otlp.Endpoint.ToString(), logger, Metrics.ExportFailures)),
                exportIntervalMilliseconds: 10_000));
        if (metricsPort is { } port)
            metrics.AddPrometheusHttpListener(o =>
            {
                o.Port = port;
                o.ScrapeEndpointPath = MetricsPath;
                // Every address, as /healthz is served; the health endpoint's listener keeps the port's other paths.
                o.ConfigureHttpListener = (_, listener) =>
                {
                    listener.Prefixes.Clear();
                    listener.Prefixes.Add($"http://*:{port}{MetricsPath}/");
                };
            });
        return metrics.Build();
    }

    public DropMetrics Metrics { get; } = new(Version);

    public ActivitySource Source { get; } = new(SourceName, Version);

    /// <summary>Whether spans go anywhere (an OTLP endpoint is set).</summary>
    public bool ExportsSpans => _tracing is not null;

    // Over HTTP each signal has its own path under the base endpoint (the SDK appends it only for the variable).
    private static OtlpExporterOptions Options(OtlpTarget target, string signalPath) => new()
    {
        Protocol = target.Protocol,
        Endpoint = target.Protocol == OtlpExportProtocol.HttpProtobuf
            ? new Uri(target.Endpoint.ToString().TrimEnd('/') + "/" + signalPath)
            : target.Endpoint,
    };

    private static IEnumerable<KeyValuePair<string, object>> NodeAttributes()
    {
        yield return new("host.name", Environment.MachineName);
        if (Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } node)
            yield return new("k8s.node.name", node);
    }

    /// <summary>Exports what is still queued, then stops.</summary>
    public void Dispose()
    {
        _tracing?.Dispose();
        _metrics?.Dispose();
        Source.Dispose();
        Metrics.Dispose();
    }
}
