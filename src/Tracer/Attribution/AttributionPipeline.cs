using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// Everything that names culprits during a trace: the netfilter hook tables, the sentinels that
/// bracket hooks, the exact tier that observes hook verdicts, nftables' trace, SELinux's denials, and
/// the <see cref="Attributor"/> that reads them all.
/// Each part that the kernel or the node refuses is left out with one warning; attribution then
/// falls back to what remains (ultimately the drop's reason and location).
/// </summary>
internal sealed class AttributionPipeline : IDisposable
{
    private static readonly IReadOnlySet<uint> NoPrograms = new HashSet<uint>();

    private readonly NetfilterHookTables? _hookTables;
    private readonly NetfilterSentinels? _sentinels;
    private readonly NetfilterVerdicts _verdicts;
    private readonly SelinuxAvc? _selinux;
    // nftables' trace per namespace: Tracer's own from the start, a pod's once netfilter drops happen there
    // (null where the kernel or nftables refused it).
    private readonly Dictionary<uint, NftablesTrace?> _nftables = [];
    private IReadOnlyList<IPNetwork> _watched;
    private readonly KernelSymbols _symbols;
    private readonly ILogger _logger;

    private AttributionPipeline(NetfilterHookTables? hookTables, NetfilterSentinels? sentinels, NetfilterVerdicts verdicts,
                                NftablesTrace? nftables, SelinuxAvc? selinux, IReadOnlyList<IPNetwork> watched, KernelSymbols symbols, ILogger logger)
    {
        _hookTables = hookTables;
        _sentinels = sentinels;
        _selinux = selinux;
        _watched = watched;
        _verdicts = verdicts;
        _nftables[NetworkNamespace.CurrentInode()] = nftables;
        _symbols = symbols;
        _logger = logger;
        Attributor = new Attributor(symbols, DropReasonGuide.Embedded())
        {
            NftablesIn = netns => _nftables.GetValueOrDefault(netns), OwnNetns = NetworkNamespace.CurrentInode(),
            VerdictMethod = verdicts.MethodOf,
        };
    }

    public Attributor Attributor { get; }

    /// <summary>
    /// Loads what the kernel allows and looks at Tracer's own namespace's hooks once, so the exact
    /// tier already observes the foreign hook functions registered there when tracing starts.
    /// </summary>
    public static AttributionPipeline Start(DropProbe probe, KernelSymbols symbols, IReadOnlyList<IPNetwork> watched, ILogger logger)
    {
        var hookTables = Optional(() => NetfilterHookTables.LoadAndCopy(symbols), logger,
                                  "netfilter hook tables unreadable ({Error}); netfilter drops are attributed from their location only");
        var sentinels = hookTables is null ? null : Optional(() => NetfilterSentinels.Load(probe.SentinelTrail, hookTables), logger,
                                 "netfilter sentinels unavailable ({Error}); hooks are bracketed only where their verdicts can be observed");
        var nftables = Optional(() => NftablesTrace.Start(watched), logger,
                                "nftables tracing unavailable ({Error}); nftables drops are attributed to their chain only");
        var selinux = !probe.TakesSelinuxDenials ? null : Optional(() => SelinuxAvc.Attach(probe.AvcLast), logger,
                              "SELinux denials unobservable ({Error}); SELinux drops are attributed from their hook or reason only");
        if (selinux is { NamesPermissions: false })
            logger.LogInformation("secclass_map is not in kallsyms: SELinux denials name their permissions as bits");
        var pipeline = new AttributionPipeline(hookTables, sentinels, new NetfilterVerdicts(probe.HookVerdict, logger), nftables, selinux,
                                               watched, symbols, logger);
        pipeline.RefreshHooks();
        pipeline.ObserveForeignFunctions();
        return pipeline;
    }

    /// <summary>What netfilter attribution rests on here, for the status line.</summary>
    public string Tier => DescribeTier(_hookTables is not null, _sentinels is not null, _sentinelsEverywhere, _verdicts.Methods) +
                          (_selinux is null ? "" : "; SELinux denials observed (avc:selinux_audited)");

    /// <summary>
    /// The strongest tier the kernel allowed: observed verdicts (exact), else sentinels (bracketed), else
    /// the hook tables, else the drop's location alone. <paramref name="observedWith"/>: e.g. "fexit on 2", or "".
    /// </summary>
    internal static string DescribeTier(bool hookTables, bool sentinels, bool sentinelsEverywhere, string observedWith) =>
        (hookTables, sentinels, observedWith.Length > 0) switch
        {
            (false, _, _) => "location",
            (_, _, true) => $"exact (verdicts of foreign hook functions observed: {observedWith}{(sentinels ? "; others bracketed by sentinels" : "")})",
            (_, true, _) => $"sentinels ({(sentinelsEverywhere ? "every" : "on demand, at each")} netfilter hook point with drops, bracketed by accept-only sentinels)",
            _ => "hook tables (netfilter drops named from the hooks registered at their hook point)",
        };

    private bool _sentinelsEverywhere;

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

    /// <summary>
    /// The watched addresses changed (pods came or went): nftables' trace in Tracer's namespace marks the new set.
    /// A pod namespace's trace keeps the set it started with: what matters there is that pod's own address.
    /// </summary>
    public void Watch(IReadOnlyList<IPNetwork> watched)
    {
        _watched = watched;
        try
        {
            _nftables.GetValueOrDefault(NetworkNamespace.CurrentInode())?.Watch(watched);
        }
        catch (NativeException e)
        {
            _logger.LogWarning("nftables trace could not follow the watched addresses ({Error}); rules are traced for the earlier set", e.Message);
        }
    }

    /// <summary>Brackets every hook point from the start (<c>--sentinels all</c>).</summary>
    public void BracketEverywhere()
    {
        if (_sentinels is null)
            return;
        _sentinelsEverywhere = true;
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
        Attributor.UpdateSelinuxDenials(interval.SelinuxDenials);
        Attributor.UpdateExactVerdicts(interval.Samples.Where(s => s.nf_function != 0)
            .GroupBy(s => DropFlow.From(s.key)).ToDictionary(g => g.Key, g => g.First().nf_function));
        var hints = HookInference.FromSamples(interval, readStack, _symbols);
        var bracketNew = false;
        foreach (var (point, _) in hints.Values)
        {
            if (_hookTables?.Track(point.Netns) == true && !_nftables.ContainsKey(point.Netns))
                _nftables[point.Netns] = TraceNftablesIn(point.Netns);
            bracketNew |= _sentinels?.EnsureAt(point) == true;
        }
        if (bracketNew)
            _logger.LogInformation("netfilter drops at {Points}: bracketing them with sentinels",
                                   string.Join(", ", hints.Values.Select(h => $"{h.Point.FamilyName} {h.Point.HookName}").Distinct()));
        Attributor.UpdateHookHints(hints);
        RefreshHooks();
        ObserveForeignFunctions();
    }

    /// <summary>nftables' trace inside another namespace (a pod's firewall): its own table and netlink sockets there.</summary>
    private NftablesTrace? TraceNftablesIn(uint netns)
    {
        try
        {
            return Optional(() => _hookTables!.InNamespace(netns, () => NftablesTrace.Start(_watched)), _logger,
                            $"nftables tracing unavailable in netns {netns} ({{Error}}); its nftables drops are attributed to their chain only");
        }
        catch (NamespaceGoneException)
        {
            return null;
        }
    }

    /// <summary>A pod's namespace is gone: what Tracer had there goes too.</summary>
    private void Forget(uint netns)
    {
        if (_nftables.Remove(netns, out var nftables))
            nftables?.Dispose();
        _sentinels?.Forget(netns);
        _logger.LogInformation("network namespace {Netns} is gone; stopped tracing hooks there", netns);
    }

    private void RefreshHooks()
    {
        NftablesTrace.CatchUp([.. _nftables.Values.OfType<NftablesTrace>()]);
        if (_hookTables is null)
            return;
        var sentinelPrograms = _sentinels?.ProgramIds ?? NoPrograms;
        foreach (var netns in _hookTables.CopyNow())
            Forget(netns);
        var tables = _hookTables.Read(sentinelPrograms);
        Attributor.UpdateHookTables(tables);
        if (_sentinels?.Rebalance(tables) == true)
        {
            foreach (var netns in _hookTables.CopyNow())
                Forget(netns);
            Attributor.UpdateHookTables(_hookTables.Read(sentinelPrograms));
        }
    }

    /// <summary>The exact tier, where the kernel allows it: watch every foreign hook function in the hook tables.</summary>
    private void ObserveForeignFunctions()
    {
        if (_hookTables is null || _verdicts.Unavailable is not null)
            return;
        _verdicts.Observe(Attributor.HookTables
            .SelectMany(t => t.Value)
            .Where(e => !e.IsOwn && e.Kind == hook_entry_kind.HOOK_ENTRY_FUNCTION && _symbols.Resolve(e.Function) is { Offset: 0 })
            .Select(e => (e.Function, _symbols.Resolve(e.Function)!.Value.Name))
            .Distinct());
    }

    public void Dispose()
    {
        _selinux?.Dispose();
        _verdicts.Dispose();
        foreach (var nftables in _nftables.Values)
            nftables?.Dispose();
        _sentinels?.Dispose();
        _hookTables?.Dispose();
    }
}
