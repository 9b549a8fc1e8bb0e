using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Output;
using Tracer.Probes;

namespace Tracer.Tracing;

internal sealed record TraceOptions(
    IReadOnlyList<IPNetwork> ExtraWatched,
    bool WatchAll,
    TimeSpan? Duration,
    bool Stacks,
    bool SentinelsEverywhere = false)
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// One trace: discover what to watch, load and attach the drop probe, and hand every interval's
/// records to the output until the duration ends or the token is cancelled. Whatever happens,
/// the probe is detached and what it counted before detaching is still reported.
/// </summary>
internal sealed class TraceSession(TraceOptions options, IDropOutput output, ILogger logger)
{
    /// <summary>Runs the session; <paramref name="onAttached"/> receives the status line once tracing.</summary>
    public async Task<TraceSummary> RunAsync(Action<string> onAttached, CancellationToken cancellationToken)
    {
        DropReasons reasons;
        using (var btf = KernelBtf.Load())
            reasons = DropReasons.FromKernel(btf);
        var symbols = KernelSymbols.Load();
        var pods = PodRouteDiscovery.Discover();

        using var probe = DropProbe.Load(new DropProbeOptions(options.WatchAll, options.Stacks), logger);
        using var attribution = AttributionPipeline.Start(probe, symbols,
            options.WatchAll ? [] : [.. pods.Select(p => p.Network), .. options.ExtraWatched], logger);
        if (!options.WatchAll)
        {
            foreach (var pod in pods)
                probe.Watched.Add(pod.Network);
            foreach (var network in options.ExtraWatched)
                probe.Watched.Add(network);
        }

        var builder = new DropRecordBuilder(symbols, reasons, attribution.Attributor, options.Stacks ? probe.Stack : null);
        var summary = new SummaryBuilder();
        var clock = Stopwatch.StartNew();
        probe.Attach();
        try
        {
            if (options.SentinelsEverywhere)
                attribution.BracketEverywhere(); // every hook point is bracketed before tracing is announced
            onAttached(Status(probe, pods, reasons, attribution.Tier));
            while (!cancellationToken.IsCancellationRequested)
            {
                var wait = options.Interval;
                if (options.Duration is { } duration)
                {
                    var remaining = duration - clock.Elapsed;
                    if (remaining <= TimeSpan.Zero)
                        break;
                    wait = remaining < wait ? remaining : wait;
                }
                try
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                Report(probe.Drain(), probe, attribution, builder, summary);
            }
        }
        finally
        {
            probe.Detach();
        }
        Report(probe.Drain(), probe, attribution, builder, summary);
        var result = summary.Build(clock.Elapsed);
        output.Complete(result);
        return result;
    }

    private void Report(DropInterval interval, DropProbe probe, AttributionPipeline attribution, DropRecordBuilder builder, SummaryBuilder summary)
    {
        attribution.Prepare(interval, probe.Stack);
        var records = builder.Build(interval);
        summary.Add(interval, records);
        output.Write(records);
        output.Observe(summary.Counters);
    }

    private string Status(DropProbe probe, IReadOnlyList<PodRoute> pods, DropReasons reasons, string netfilterTier)
    {
        string scope;
        if (options.WatchAll)
        {
            scope = "watching all drops";
        }
        else
        {
            var shown = probe.Watched.Entries.Take(6).Select(n => pods.FirstOrDefault(p => p.Network == n) is { } pod
                ? $"{n} ({pod.Interface})"
                : n.ToString());
            var more = probe.Watched.Entries.Count > 6 ? $", … {probe.Watched.Entries.Count - 6} more" : "";
            scope = probe.Watched.Entries.Count == 0
                ? "watching nothing: no local pod routes found (pass --ip ADDR|CIDR or --all)"
                : $"watching {probe.Watched.Entries.Count} prefixes ({pods.Count} discovered from routes): {string.Join(", ", shown)}{more}";
        }
        var reasonNote = reasons.Available ? $"{reasons.Count} drop reasons from BTF" : "this kernel reports no drop reasons";
        var fallback = probe.FallbackReason is null ? "" : $" [{probe.FallbackReason}]";
        return $"tracing: {scope}; probe {probe.AttachPoint}{fallback}; tier: {netfilterTier}; {reasonNote}";
    }

    private sealed class SummaryBuilder
    {
        private ulong _drops;
        private ulong _bytes;
        private ProbeCounters _counters;
        private readonly Dictionary<string, ulong> _byReason = [];

        public void Add(DropInterval interval, IReadOnlyList<DropRecord> records)
        {
            _counters += interval.Counters;
            foreach (var record in records)
            {
                _drops += record.Count;
                _bytes += record.Bytes;
                var reason = record.Reason ?? "(overflow)";
                _byReason[reason] = _byReason.GetValueOrDefault(reason) + record.Count;
            }
        }

        public ProbeCounters Counters => _counters;

        public TraceSummary Build(TimeSpan duration) => new(duration, _drops, _bytes, _counters, _byReason);
    }
}
