using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// Everything that names culprits during a trace, in Tracer's own network namespace: the netfilter
/// sentinels, the exact tier, nftables' trace, and the <see cref="Attributor"/> that reads them all.
/// Each part that the kernel or the node refuses is left out with one warning; attribution then
/// falls back to what remains (ultimately the drop's reason and location).
/// </summary>
internal sealed class AttributionPipeline : IDisposable
{
    private readonly NetfilterSentinels? _sentinels;
    private readonly NetfilterVerdicts _verdicts;
    private readonly NftablesTrace? _nftables;
    private readonly KernelSymbols _symbols;
    private readonly ILogger _logger;

    private AttributionPipeline(NetfilterSentinels? sentinels, NetfilterVerdicts verdicts, NftablesTrace? nftables,
                                KernelSymbols symbols, ILogger logger)
    {
        _sentinels = sentinels;
        _verdicts = verdicts;
        _nftables = nftables;
        _symbols = symbols;
        _logger = logger;
        Attributor = new Attributor(symbols, DropReasonGuide.Embedded()) { Nftables = nftables, OwnNetns = NetworkNamespace.CurrentInode() };
    }

    public Attributor Attributor { get; }

    /// <summary>The namespace the sentinels bracket, or null when BPF netfilter links are unavailable.</summary>
    public uint? SentinelNetns => _sentinels?.Netns;

    public static AttributionPipeline Start(DropProbe probe, KernelSymbols symbols, IReadOnlyList<IPNetwork> watched, ILogger logger)
    {
        var sentinels = Optional(() => NetfilterSentinels.Load(probe.SentinelTrail, symbols), logger,
                                 "netfilter sentinels unavailable ({Error}); netfilter drops are attributed from their location only");
        var nftables = Optional(() => NftablesTrace.Start(watched), logger,
                                "nftables tracing unavailable ({Error}); nftables drops are attributed to their chain only");
        return new AttributionPipeline(sentinels, new NetfilterVerdicts(probe.HookVerdict, logger), nftables, symbols, logger);
    }

    private static T? Optional<T>(Func<T> start, ILogger logger, string warning) where T : class
    {
        try
        {
            return start();
        }
        catch (Exception e) when (e is NativeException or DllNotFoundException)
        {
#pragma warning disable CA2254 // the templates are the constant strings above
            logger.LogWarning(warning, e.Message);
#pragma warning restore CA2254
            return null;
        }
    }

    /// <summary>Brackets every hook point from the start (<c>--sentinels all</c>).</summary>
    public void BracketEverywhere()
    {
        if (_sentinels is null)
            return;
        _sentinels.AttachEverywhere();
        RefreshHooks();
    }

    /// <summary>
    /// Prepares the attributor for one interval: exact verdicts and stacks of its samples, and the
    /// hook tables. Netfilter drops no sentinel saw get their hook point from their stack, and that
    /// hook point gets sentinels, so the next drops there are bracketed.
    /// </summary>
    public void Prepare(DropInterval interval, Func<int, ulong[]> readStack)
    {
        Attributor.BeginInterval();
        Attributor.UpdateExactVerdicts(interval.Samples.Where(s => s.nf_function != 0)
            .GroupBy(s => DropFlow.From(s.key)).ToDictionary(g => g.Key, g => g.First().nf_function));
        var hints = HookInference.FromSamples(interval, readStack, _symbols);
        var bracketNew = false;
        foreach (var (point, _) in hints.Values)
            bracketNew |= _sentinels?.EnsureAt(point) == true;
        if (bracketNew)
            _logger.LogInformation("netfilter drops at {Points}: bracketing them with sentinels",
                                   string.Join(", ", hints.Values.Select(h => $"{h.Point.FamilyName} {h.Point.HookName}").Distinct()));
        Attributor.UpdateHookHints(hints);
        RefreshHooks();
        ObserveForeignFunctions();
    }

    private void RefreshHooks()
    {
        _nftables?.CatchUp();
        if (_sentinels is null)
            return;
        _sentinels.CopyTablesNow();
        var tables = _sentinels.ReadTables();
        Attributor.UpdateHookTables(tables);
        if (_sentinels.Rebalance(tables))
        {
            _sentinels.CopyTablesNow();
            Attributor.UpdateHookTables(_sentinels.ReadTables());
        }
    }

    /// <summary>The exact tier, where the kernel allows it: watch every foreign hook function the sentinels found.</summary>
    private void ObserveForeignFunctions()
    {
        if (_sentinels is null || _verdicts.Unavailable is not null)
            return;
        _verdicts.Observe(Attributor.HookTables
            .SelectMany(t => t.Value)
            .Where(e => !e.IsOwn && e.Kind == hook_entry_kind.HOOK_ENTRY_FUNCTION && _symbols.Resolve(e.Function) is { Offset: 0 })
            .Select(e => (e.Function, _symbols.Resolve(e.Function)!.Value.Name))
            .Distinct());
    }

    public void Dispose()
    {
        _verdicts.Dispose();
        _nftables?.Dispose();
        _sentinels?.Dispose();
    }
}
