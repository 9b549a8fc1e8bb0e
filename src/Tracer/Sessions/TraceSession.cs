using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Sessions;

internal sealed record TraceOptions(
    IReadOnlyList<IPNetwork> ExtraWatched,
    bool WatchAll,
    TimeSpan? Duration,
    bool Stacks,
    Arming Arming = Arming.OnDemand)
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// One trace: load and attach the drop probe, watch what the pod source names (asked again every
/// interval, so pods that come and go are followed), and hand every interval's records to the output
/// until the duration ends or the token is cancelled. Whatever happens, the probe is detached and
/// what it counted before detaching is still reported.
/// </summary>
internal sealed class TraceSession(TraceOptions options, IPodSource pods, IDropOutput output, ILogger logger)
{
    /// <summary>Addresses to watch in detail (every drop sampled, with its stack): the daemon's on-demand sessions.</summary>
    public Func<IReadOnlyCollection<IPNetwork>> Detailed { get; init; } = () => [];

    /// <summary>Called once the probe watches what <see cref="Detailed"/> last returned.</summary>
    public Action DetailApplied { get; init; } = () => { };

    /// <summary>With Kubernetes API access: checks the owners named from rules against the API.</summary>
    public ClusterOwners? ClusterOwners { get; init; }

    /// <summary>Runs the session; <paramref name="onAttached"/> receives the status line once tracing.</summary>
    public async Task<TraceSummary> RunAsync(Action<string> onAttached, CancellationToken cancellationToken)
    {
        DropReasons reasons;
        using (var btf = KernelBtf.Load())
            reasons = DropReasons.FromKernel(btf);
        var symbols = KernelSymbols.Load();
        var snapshot = pods.Current;

        using var probe = DropProbe.Load(new DropProbeOptions(options.WatchAll, options.Stacks, SelinuxDenials: SelinuxAvc.IsActive()), logger);
        var wanted = Wanted(snapshot);
        var detailed = DetailedOf(wanted);
        using var attribution = AttributionPipeline.Start(probe, symbols, options.WatchAll ? [] : [.. wanted.Keys], options.Arming, logger);
        probe.Watched.Apply(wanted);
        DetailApplied();

        var attributor = new Attributor(symbols, reasons, DropReasonGuide.Embedded());
        bool WithStack(DropFlow flow) => options.Stacks || detailed.Any(flow.Touches);
        var summary = new SummaryBuilder();
        var clock = Stopwatch.StartNew();
        probe.Attach();
        try
        {
            onAttached(Status(probe, snapshot, reasons, attribution.Tier));
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
                Report(probe.Drain(), probe, attribution, attributor, WithStack, summary);
                if (!options.WatchAll && Follow(pods.Current, probe, attribution, wanted) is var now && !ReferenceEquals(now, wanted))
                {
                    wanted = now;
                    detailed = DetailedOf(wanted);
                }
                DetailApplied();
            }
        }
        finally
        {
            probe.Detach();
        }
        Report(probe.Drain(), probe, attribution, attributor, WithStack, summary, armNext: false);
        var result = summary.Build(clock.Elapsed);
        output.Complete(result);
        return result;
    }

    /// <summary>What the probe should watch now: the pods and --ip addresses, counted; the detailed ones, detailed.</summary>
    private Dictionary<IPNetwork, tracer_watch_level> Wanted(PodSnapshot snapshot)
    {
        var wanted = new Dictionary<IPNetwork, tracer_watch_level>();
        foreach (var network in snapshot.Pods.Select(p => p.Network).Concat(options.ExtraWatched))
            wanted[network] = tracer_watch_level.TRACER_WATCH_COUNTED;
        foreach (var network in Detailed())
            wanted[network] = tracer_watch_level.TRACER_WATCH_DETAILED;
        return wanted;
    }

    private static List<IPNetwork> DetailedOf(Dictionary<IPNetwork, tracer_watch_level> wanted) =>
        [.. wanted.Where(w => w.Value == tracer_watch_level.TRACER_WATCH_DETAILED).Select(w => w.Key)];

    /// <summary>Pods came or went, or a detailed session started or ended: the probe and nftables' trace follow.</summary>
    private Dictionary<IPNetwork, tracer_watch_level> Follow(PodSnapshot snapshot, DropProbe probe, AttributionPipeline attribution,
                                                            Dictionary<IPNetwork, tracer_watch_level> wanted)
    {
        var now = Wanted(snapshot);
        if (now.Count == wanted.Count && now.All(w => wanted.TryGetValue(w.Key, out var level) && level == w.Value))
            return wanted;
        probe.Watched.Apply(now);
        if (!now.Keys.ToHashSet().SetEquals(wanted.Keys))
        {
            logger.LogInformation("watching {Count} addresses ({Origin})", now.Count, snapshot.Origin);
            attribution.Watch([.. now.Keys]);
        }
        return now;
    }

    /// <param name="armNext">Arm for the next interval what this one's unexplained drops need (not after the last).</param>
    private void Report(DropInterval interval, DropProbe probe, AttributionPipeline attribution, Attributor attributor,
                        Func<DropFlow, bool> withStack, SummaryBuilder summary, bool armNext = true)
    {
        var attributed = attributor.Attribute(attribution.Gather(interval, probe.Stack), withStack);
        var records = PodOwners.Complete(attributed.Records, pods.Current);
        if (ClusterOwners is { } cluster)
            records = cluster.Complete(records);
        summary.Add(interval, records);
        output.Write(records);
        output.Observe(new TraceProgress(summary.Counters, probe.Watched.Entries.Count, attribution.ArmedHookPoints));
        if (armNext)
            attribution.Arm(attributed.Requests, DateTimeOffset.UtcNow);
    }

    private string Status(DropProbe probe, PodSnapshot snapshot, DropReasons reasons, string netfilterTier)
    {
        string scope;
        if (options.WatchAll)
        {
            scope = "watching all drops";
        }
        else
        {
            var watched = probe.Watched.Entries;
            var shown = watched.Take(6).Select(n => snapshot.Pods.FirstOrDefault(p => p.Network == n) is { } pod
                ? $"{n} ({pod.Identity?.ToString() ?? pod.Interface})"
                : n.ToString());
            var more = watched.Count > 6 ? $", … {watched.Count - 6} more" : "";
            scope = watched.Count == 0
                ? $"watching nothing: no local pods found ({snapshot.Origin}; pass --ip ADDR|CIDR or --all)"
                : $"watching {watched.Count} prefixes ({snapshot.Pods.Count} discovered from {snapshot.Origin}): {string.Join(", ", shown)}{more}";
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
