using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tracer.Diagnosis;
using Tracer.Doctor;
using Tracer.Records;
using Tracer.Telemetry;

namespace Tracer.Cli;

/// <summary><c>tracer diagnose</c>: runs the investigation, prints the report (text or JSON), exports it as a span, exits 0, 4 or 5.</summary>
internal sealed class DiagnoseCommand(ILogger logger)
{
    public async Task<int> RunAsync(DiagnoseRequest request, bool json, OtlpTarget? otlp, CancellationToken cancellationToken)
    {
        Preflight.Check();
        var started = DateTimeOffset.UtcNow;
        var report = await Investigation.RunAsync(request, Console.Error.WriteLine, logger, cancellationToken).ConfigureAwait(false);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(report, ReadableJson.DiagnosisReport));
        else
            Console.Write(Text(report));
        if (otlp is not null)
        {
            using var export = new TelemetryExport(otlp, metricsPort: null, logger);
            Export(export, report, started);
        }
        return report.Verdict.ExitCode;
    }

    // Arrows, quotes and '+' as they are: the document is for tools and for people reading it.
    private static readonly DiagnosisJson ReadableJson = new(new System.Text.Json.JsonSerializerOptions(DiagnosisJson.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    internal static string Text(DiagnosisReport report)
    {
        var text = new System.Text.StringBuilder();
        var about = new List<string>();
        if (report.Target != report.Address)
            about.Add(report.Address);
        if (report.HostInterface is { } veth)
            about.Add($"host side {veth}");
        if (report.NodeAddress is { } node)
            about.Add($"node {node}");
        text.AppendLine($"tracer diagnose {report.Target} ({string.Join(", ", about)}), traced {report.TracedSeconds:0.#} s");
        text.AppendLine();
        text.AppendLine("probes");
        foreach (var p in report.Probes)
            text.AppendLine($"  {(p.Failed == 0 ? "ok  " : "FAIL")}  {p.Direction,-11} {p.Kind,-12} {p.Target,-28} {p.Detail}");
        text.AppendLine("checks");
        foreach (var f in report.Findings)
            text.AppendLine($"  {(f.Pass ? "ok  " : "FAIL")}  {f.Check,-11} {f.Detail}");
        text.AppendLine("drops of the pod's packets seen by the kernel");
        if (report.Drops.Count == 0)
            text.AppendLine("  none");
        foreach (var d in report.Drops)
            text.AppendLine($"  {d.Drops,6}  {d.Direction,-11} {d.Reason} at {d.Location} (e.g. {d.Flow}): {d.Culprit?.Summary ?? "culprit unknown"}");
        var v = report.Verdict;
        text.AppendLine();
        text.AppendLine($"verdict: {(v.Reachable ? "REACHABLE" : "NOT REACHABLE")}");
        text.AppendLine($"  {v.Summary}");
        if (v.Culprit is { } c)
        {
            text.AppendLine($"  who:      {c.Kind.WireName()} ({c.Confidence.WireName()})");
            if (v.Where is { } where)
                text.AppendLine($"  where:    {v.Direction}, {where}");
            text.AppendLine($"  evidence: {string.Join("; ", c.Evidence)}");
            if (c.Owner is { } owner)
            {
                text.AppendLine($"  owner:    {owner.Kind.WireName()} {owner.Name} ({owner.Confidence.WireName()}): {owner.Summary}");
                text.AppendLine($"            {string.Join("; ", owner.Evidence)}");
            }
        }
        text.AppendLine($"  affected: {v.FailedProbes} of {v.Probes} probes failed");
        text.AppendLine($"  next:     {v.NextStep}");
        return text.ToString();
    }

    /// <summary>The verdict as one span, for the team that never logs into nodes.</summary>
    private static void Export(TelemetryExport export, DiagnosisReport report, DateTimeOffset started)
    {
        var v = report.Verdict;
        List<KeyValuePair<string, object?>> tags =
        [
            new("tracer.diagnose.target", report.Target),
            new("destination.address", report.Address),
            new("tracer.diagnose.reachable", v.Reachable),
            new("tracer.diagnose.verdict", v.Summary),
            new("tracer.diagnose.next_step", v.NextStep),
            new("tracer.diagnose.failed_probes", (long)v.FailedProbes),
            new("tracer.diagnose.probes", (long)v.Probes),
            new("tracer.diagnose.direction", v.Direction),
        ];
        if (v.Culprit is { } c)
            tags.AddRange(TelemetryOutput.CulpritAttributes(c));
        using var span = export.Source.StartActivity(ActivityKind.Internal, default(ActivityContext),
                                                     tags.Where(t => t.Value is not null), startTime: started, name: "diagnose");
        span?.SetStatus(v.Reachable ? ActivityStatusCode.Ok : ActivityStatusCode.Error, v.Reachable ? null : v.Summary);
    }
}
