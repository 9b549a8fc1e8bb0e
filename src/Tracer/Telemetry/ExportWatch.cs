using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Tracer.Telemetry;

/// <summary>
/// Watches one OTLP exporter's results (one per signal: a backend may take spans and refuse metrics, as
/// Jaeger and Tempo do): the first failure of a run of failures is one warning (not one per batch), the
/// return is one more, every failed batch counts in <c>tracer.export_failures</c>.
/// Tracing never waits for the collector: exports run on the SDK's own threads with bounded queues.
/// </summary>
internal sealed class ExportWatch(string signal, string endpoint, ILogger logger, Counter<long> failures)
{
    private int _failing;

    public void Observe(ExportResult result)
    {
        if (result == ExportResult.Success)
        {
            if (Interlocked.Exchange(ref _failing, 0) == 1)
                logger.LogWarning("OTLP export of {Signal} to {Endpoint} works again", signal, endpoint);
            return;
        }
        failures.Add(1, new KeyValuePair<string, object?>("tracer.signal", signal));
        if (Interlocked.Exchange(ref _failing, 1) == 0)
            logger.LogWarning("OTLP export of {Signal} to {Endpoint} failed; tracing goes on, and export resumes when the endpoint answers", signal, endpoint);
    }
}

/// <summary>The OTLP trace exporter, reporting each batch's result (subclassed, so the SDK still gives it the resource).</summary>
internal sealed class WatchedTraceExporter(OtlpExporterOptions options, ExportWatch watch) : OtlpTraceExporter(options)
{
    public override ExportResult Export(in Batch<Activity> batch)
    {
        var result = base.Export(batch);
        watch.Observe(result);
        return result;
    }
}

/// <summary>The OTLP metric exporter, reporting each batch's result.</summary>
internal sealed class WatchedMetricExporter(OtlpExporterOptions options, ExportWatch watch) : OtlpMetricExporter(options)
{
    public override ExportResult Export(in Batch<Metric> batch)
    {
        var result = base.Export(batch);
        watch.Observe(result);
        return result;
    }
}
