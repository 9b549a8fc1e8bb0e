using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Tracer.Telemetry;

/// <summary>
/// Watches one OTLP exporter's results: the first failure of a run of failures is one warning (not one
/// per batch), the return is one note, every failed batch counts in <c>tracer.export_failures</c>.
/// Tracing never waits for the collector: exports run on the SDK's own threads with bounded queues.
/// </summary>
internal sealed class ExportWatch(string endpoint, ILogger logger, Counter<long> failures)
{
    private int _failing;

    public void Observe(string signal, ExportResult result)
    {
        if (result == ExportResult.Success)
        {
            if (Interlocked.Exchange(ref _failing, 0) == 1)
                logger.LogInformation("OTLP export to {Endpoint} works again", endpoint);
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
        watch.Observe("spans", result);
        return result;
    }
}

/// <summary>The OTLP metric exporter, reporting each batch's result.</summary>
internal sealed class WatchedMetricExporter(OtlpExporterOptions options, ExportWatch watch) : OtlpMetricExporter(options)
{
    public override ExportResult Export(in Batch<Metric> batch)
    {
        var result = base.Export(batch);
        watch.Observe("metrics", result);
        return result;
    }
}
