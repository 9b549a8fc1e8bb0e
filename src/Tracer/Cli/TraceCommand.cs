using Microsoft.Extensions.Logging;
using Tracer.Discovery;
using Tracer.Doctor;
using Tracer.Errors;
using Tracer.Output;
using Tracer.Records;
using Tracer.Telemetry;
using Tracer.Sessions;

namespace Tracer.Cli;

/// <summary><c>tracer trace</c>: checks the node can run it, runs a session, prints the summary.</summary>
internal sealed class TraceCommand(ILogger logger)
{
    public async Task<int> RunAsync(TraceOptions options, bool json, OtlpTarget? otlp, CancellationToken cancellationToken)
    {
        Preflight.Check();
        // Pods by name, and owners checked against the API, where the API is configured (as for diagnose); routes otherwise.
        using var cluster = ClusterAccess.Open(useApi: true, nodeName: null, kubeconfig: null, logger);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watch = await cluster.StartAsync(TimeSpan.FromSeconds(10), stopWatching.Token).ConfigureAwait(false);
        if (cluster.Kubernetes is { } kubernetes)
            Console.Error.WriteLine(kubernetes.Synced
                ? $"pods: named by the Kubernetes API (node {cluster.Node})"
                : $"pods: the Kubernetes API has not answered yet; from the node's routes until it does (node {cluster.Node})");
        using IDropOutput console = json
            ? new JsonLinesOutput(Console.OpenStandardOutput(), cluster.Pods)
            : Console.IsOutputRedirected || !AnsiConsoleSupported()
                ? new PlainTextOutput(Console.Out, cluster.Pods)
                : new LiveTableOutput(cluster.Pods);
        using var export = otlp is null ? null : new TelemetryExport(otlp, metricsPort: null, logger);
        using var telemetry = export is null ? null : new TelemetryOutput(export, SessionAttributes(options), countMetrics: true, cluster.Pods);
        var output = telemetry is null ? console : new TeeOutput(console, telemetry);
        var session = new TraceSession(options, cluster.Pods, output, logger) { ClusterOwners = cluster.Owners };
        try
        {
            var summary = await session.RunAsync(status =>
            {
                Console.Error.WriteLine(status);
                telemetry?.Started(status);
            }, cancellationToken).ConfigureAwait(false);
            PrintSummary(summary);
        }
        finally
        {
            await stopWatching.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
        return ExitCodes.Success;
    }

    private static IEnumerable<KeyValuePair<string, object?>> SessionAttributes(TraceOptions options)
    {
        yield return new("tracer.session.watch_all", options.WatchAll);
        yield return new("tracer.session.watched", options.ExtraWatched.Select(n => n.ToString()).ToArray());
        if (options.Duration is { } duration)
            yield return new("tracer.session.duration_s", duration.TotalSeconds);
    }

    private static bool AnsiConsoleSupported() => Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive;

    private static void PrintSummary(TraceSummary summary)
    {
        var reasons = string.Join(", ", summary.DropsByReason.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"));
        var byReason = reasons.Length > 0 ? $" — {reasons}" : "";
        var busy = summary.Counters.OverflowBusyPackets > 0
            ? FormattableString.Invariant($" ({summary.Counters.OverflowBusyPackets} refused while the map's bucket was locked on that CPU)") : "";
        Console.Error.WriteLine(FormattableString.Invariant(
            $"summary: {summary.Drops} drops ({summary.Bytes} bytes) in {summary.Duration.TotalSeconds:F1}s{byReason}; samples lost {summary.Counters.SamplesLost}, flows not kept (overflow) {summary.Counters.OverflowPackets}{busy}, stacks lost {summary.Counters.StacksLost}, drops the kernel hid (nested runs) {summary.Counters.MissedRuns}"));
    }
}
