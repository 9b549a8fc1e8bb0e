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
        using var sentinels = LoadSentinels(probe, symbols);
        using var verdicts = new NetfilterVerdicts(probe.HookVerdict, logger);
        using var nftables = StartNftablesTrace(options.WatchAll ? [] : [.. pods.Select(p => p.Network), .. options.ExtraWatched]);
        var attributor = new Attributor(symbols, DropReasonGuide.Embedded()) { Nftables = nftables, OwnNetns = NetworkNamespace.CurrentInode() };
        if (!options.WatchAll)
        {
            foreach (var pod in pods)
                probe.Watched.Add(pod.Network);
            foreach (var network in options.ExtraWatched)
                probe.Watched.Add(network);
        }

        var builder = new DropRecordBuilder(symbols, reasons, attributor, options.Stacks ? probe.Stack : null);
        var summary = new SummaryBuilder();
        var clock = Stopwatch.StartNew();
        probe.Attach();
        try
        {
            if (sentinels is not null && options.SentinelsEverywhere)
            {
                sentinels.AttachEverywhere();
                RefreshHooks(sentinels, attributor); // places the sentinels behind every foreign hook before tracing starts
            }
            onAttached(Status(probe, pods, reasons, sentinels));
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
                Report(probe.Drain(), probe, sentinels, verdicts, attributor, symbols, builder, summary);
            }
        }
        finally
        {
            probe.Detach();
        }
        Report(probe.Drain(), probe, sentinels, verdicts, attributor, symbols, builder, summary);
        var result = summary.Build(clock.Elapsed);
        output.Complete(result);
        return result;
    }

    /// <summary>Sentinels for netfilter attribution; without BPF netfilter links (before 6.4) attribution falls back to location.</summary>
    private NetfilterSentinels? LoadSentinels(DropProbe probe, KernelSymbols symbols)
    {
        try
        {
            return NetfilterSentinels.Load(probe.SentinelTrail, symbols);
        }
        catch (NativeException e)
        {
            logger.LogWarning("netfilter sentinels unavailable ({Error}); netfilter drops are attributed from their location only", e.Message);
            return null;
        }
    }

    /// <summary>nftables' trace of drop verdicts; without libnftables or nftables in the kernel, attribution stops at the chain.</summary>
    private NftablesTrace? StartNftablesTrace(IReadOnlyList<IPNetwork> watched)
    {
        try
        {
            return NftablesTrace.Start(watched);
        }
        catch (Exception e) when (e is NativeException or DllNotFoundException)
        {
            logger.LogWarning("nftables tracing unavailable ({Error}); nftables drops are attributed to their chain only", e.Message);
            return null;
        }
    }

    /// <summary>The exact tier, where the kernel allows it: watch every foreign hook function the sentinels found.</summary>
    private static void ObserveForeignFunctions(NetfilterSentinels? sentinels, NetfilterVerdicts verdicts, Attributor attributor, KernelSymbols symbols)
    {
        if (sentinels is null || verdicts.Unavailable is not null)
            return;
        verdicts.Observe(attributor.HookTables
            .Where(t => t.Key.Netns == sentinels.Netns)
            .SelectMany(t => t.Value)
            .Where(e => !e.IsOwn && e.Kind == hook_entry_kind.HOOK_ENTRY_FUNCTION && symbols.Resolve(e.Function) is { Offset: 0 })
            .Select(e => (e.Function, symbols.Resolve(e.Function)!.Value.Name))
            .Distinct());
    }

    private static void RefreshHooks(NetfilterSentinels? sentinels, Attributor attributor)
    {
        attributor.Nftables?.CatchUp();
        if (sentinels is null)
            return;
        sentinels.CopyTablesNow();
        var before = sentinels.ReadTables();
        attributor.UpdateHookTables(before);
        if (sentinels.Rebalance(before))
        {
            sentinels.CopyTablesNow();
            attributor.UpdateHookTables(sentinels.ReadTables());
        }
    }

    /// <summary>
    /// Attributes and writes one interval. Netfilter drops no sentinel saw get their hook point from
    /// their stack, and that hook point gets sentinels, so the next drops there are bracketed.
    /// </summary>
    private void Report(DropInterval interval, DropProbe probe, NetfilterSentinels? sentinels, NetfilterVerdicts verdicts,
                        Attributor attributor, KernelSymbols symbols, DropRecordBuilder builder, SummaryBuilder summary)
    {
        attributor.UpdateExactVerdicts(interval.Samples.Where(s => s.nf_function != 0)
            .GroupBy(s => DropFlow.From(s.key)).ToDictionary(g => g.Key, g => g.First().nf_function));
        var hints = HookInference.FromSamples(interval, probe.Stack, symbols);
        var bracketNew = false;
        foreach (var (point, _) in hints.Values)
        {
            if (sentinels is not null && point.Netns == sentinels.Netns)
                bracketNew |= sentinels.EnsureAt(point.Family, point.Hook);
        }
        if (bracketNew)
            logger.LogInformation("netfilter drops at {Points}: bracketing them with sentinels", string.Join(", ", hints.Values.Select(h => $"{h.Point.FamilyName} {h.Point.HookName}").Distinct()));
        attributor.UpdateHookHints(hints);
        RefreshHooks(sentinels, attributor);
        ObserveForeignFunctions(sentinels, verdicts, attributor, symbols);
        Report(interval, builder, summary);
    }

    private void Report(DropInterval interval, DropRecordBuilder builder, SummaryBuilder summary)
    {
        var records = builder.Build(interval);
        summary.Add(interval, records);
        output.Write(records);
    }

    private string Status(DropProbe probe, IReadOnlyList<PodRoute> pods, DropReasons reasons, NetfilterSentinels? sentinels)
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
        var tier = sentinels is null
            ? $"tier: location ({reasonNote}, drop location)"
            : $"tier: sentinels ({(options.SentinelsEverywhere ? "every" : "on demand, at each")} netfilter hook point of netns {sentinels.Netns} with drops, bracketed by accept-only sentinels; {reasonNote})";
        return $"tracing: {scope}; probe {probe.AttachPoint}{fallback}; {tier}";
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

        public TraceSummary Build(TimeSpan duration) => new(duration, _drops, _bytes, _counters, _byReason);
    }
}
