using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// Everything that gathers evidence of culprits during a trace: the netfilter hook tables, the sentinels that
/// bracket hooks, the exact tier that observes hook verdicts, nftables' trace, SELinux's denials and the
/// node's own tools; each interval's evidence is gathered into one <see cref="IntervalEvidence"/> for the
/// <see cref="Attributor"/>.
/// Sentinels, verdict observers and nftables' trace marking run for every packet where they are, so by
/// default (<see cref="Arming.OnDemand"/>) none is armed until netfilter drops need it, and only there
/// (<see cref="ArmingPlan"/>); <see cref="Arming.Always"/> arms them all from the start.
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
    // nftables' trace per namespace, once something was marked there (null where the kernel or nftables refused it).
    private readonly Dictionary<uint, NftablesTrace?> _nftables = [];
    private readonly ArmingPlan _plan = new();
    private readonly Arming _arming;
    private readonly uint _ownNetns = NetworkNamespace.CurrentInode();
    private IReadOnlyList<IPNetwork> _watched;
    private readonly KernelSymbols _symbols;
    private readonly ILogger _logger;
    private readonly NodeQueries _node;
    private IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> _tables = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>();

    private AttributionPipeline(NetfilterHookTables? hookTables, NetfilterSentinels? sentinels, NetfilterVerdicts verdicts,
                                SelinuxAvc? selinux, Arming arming, IReadOnlyList<IPNetwork> watched, KernelSymbols symbols, ILogger logger)
    {
        _hookTables = hookTables;
        _sentinels = sentinels;
        _selinux = selinux;
        _arming = arming;
        _watched = watched;
        _verdicts = verdicts;
        _symbols = symbols;
        _logger = logger;
        _node = new NodeQueries { NftablesListing = ListNftables, IptablesChainRules = ListIptablesChain, NfQueueFiles = ReadQueueFiles };
    }

    /// <summary>
    /// Loads what the kernel allows, and with <see cref="Arming.Always"/> arms it all in Tracer's namespace before
    /// tracing is announced; on demand, nothing runs for a packet yet.
    /// </summary>
    public static AttributionPipeline Start(DropProbe probe, KernelSymbols symbols, IReadOnlyList<IPNetwork> watched, Arming arming, ILogger logger)
    {
        var hookTables = Optional(Probe.TryLoad(() => NetfilterHookTables.Load(symbols), tables => tables.Attach()), logger,
                                  "netfilter hook tables unreadable ({Error}); netfilter drops are attributed from their location only");
        // Attached below, or on demand.
        var sentinels = hookTables is null ? null : Optional(Probe.TryLoad(() => NetfilterSentinels.Load(probe.SentinelTrail, hookTables)), logger,
                                 "netfilter sentinels unavailable ({Error}); hooks are bracketed only where their verdicts can be observed");
        var selinux = !probe.TakesSelinuxDenials ? null : Optional(Probe.TryLoad(() => SelinuxAvc.Load(probe.AvcLast), avc => avc.Attach()), logger,
                              "SELinux denials unobservable ({Error}); SELinux drops are attributed from their hook or reason only");
        if (selinux is { NamesPermissions: false })
            logger.LogInformation("secclass_map is not in kallsyms: SELinux denials name their permissions as bits");
        var pipeline = new AttributionPipeline(hookTables, sentinels, NetfilterVerdicts.Load(probe.HookVerdict, logger), selinux, arming,
                                               watched, symbols, logger);
        if (arming == Arming.Always)
        {
            pipeline.MarkIn(pipeline._ownNetns, pipeline.AlwaysMarked());
            sentinels?.Attach();
        }
        pipeline.RefreshHooks();
        pipeline.ObserveFunctions();
        return pipeline;
    }

    /// <summary>The hook points armed on demand now (not those armed for good with <see cref="Arming.Always"/>).</summary>
    public int ArmedHookPoints => _plan.Count;

    /// <summary>What netfilter attribution rests on here, for the status line.</summary>
    public string Tier => DescribeTier(_hookTables is not null, _sentinels is not null, _arming, _verdicts.Methods) +
                          (_selinux is null ? "" : "; SELinux denials observed (avc:selinux_audited)");

    /// <summary>
    /// The strongest tier the kernel allowed: observed verdicts (exact), else sentinels (bracketed), else
    /// the hook tables, else the drop's location alone; and where it is armed.
    /// <paramref name="observedWith"/>: e.g. "fexit on 2", or "" (none observed, or none yet).
    /// </summary>
    internal static string DescribeTier(bool hookTables, bool sentinels, Arming arming, string observedWith) =>
        (hookTables, sentinels, observedWith.Length > 0, arming) switch
        {
            (false, _, _, _) => "location",
            (_, _, true, Arming.Always) => $"exact (verdicts of foreign hook functions observed: {observedWith}{(sentinels ? "; others bracketed by sentinels" : "")})",
            (_, true, _, Arming.Always) => "sentinels (every netfilter hook point bracketed by accept-only sentinels)",
            (_, true, _, Arming.OnDemand) => "on demand (where netfilter drops are unexplained: nftables trace, sentinels, verdict observers; nothing runs for delivered packets)",
            (_, false, _, Arming.OnDemand) => "on demand (where netfilter drops are unexplained: nftables trace, verdict observers where the kernel allows; nothing runs for delivered packets)",
            _ => "hook tables (netfilter drops named from the hooks registered at their hook point)",
        };

    /// <summary>The probe, or null after one warning that says why the kernel or the node refused it.</summary>
    private static T? Optional<T>(Loaded<T> loaded, ILogger logger, string warning) where T : class, IProbe
    {
        if (loaded.Refusal is { } refusal)
#pragma warning disable CA2254 // the templates are the constant strings above
            logger.LogWarning(warning, refusal);
#pragma warning restore CA2254
        return loaded.Probe;
    }

    /// <summary>With <see cref="Arming.Always"/>, every watched address is marked where every packet passes.</summary>
    private List<TraceMark> AlwaysMarked() =>
        [.. HookPoint.EntryHooks.SelectMany(hook => _watched.SelectMany(network => new[] { new TraceMark(hook, network), new TraceMark(hook, network, Source: true) }))];

    /// <summary>The watched addresses changed (pods came or went): with <see cref="Arming.Always"/>, Tracer's namespace marks the new set.</summary>
    public void Watch(IReadOnlyList<IPNetwork> watched)
    {
        _watched = watched;
        if (_arming == Arming.Always)
            MarkIn(_ownNetns, AlwaysMarked());
    }

    /// <summary>
    /// One interval's evidence: exact verdicts and stacks of its samples, SELinux's denials, nftables' verdicts,
    /// and the hook tables (also of the namespaces where this interval's netfilter drops happened).
    /// </summary>
    public IntervalEvidence Gather(DropInterval interval, Func<int, ulong[]> readStack)
    {
        // A verdict is evidence of its own flow only: another flow of the same aggregate may have met another hook function.
        var exact = new Dictionary<DropFlow, ulong>();
        foreach (var sample in interval.Samples.Where(s => s.nf_function != 0))
            exact.TryAdd(DropFlow.From(sample.key), sample.nf_function);
        var hints = HookInference.FromSamples(interval, readStack, _symbols);
        foreach (var (point, _) in hints.Values)
            _hookTables?.Track(point.Netns);
        RefreshHooks();
        return new IntervalEvidence(interval, _node.ForInterval())
        {
            ReadStack = readStack, HookTables = _tables, HookHints = hints, ExactVerdicts = exact, VerdictMethod = _verdicts.MethodOf,
            SelinuxDenials = interval.SelinuxDenials, OwnNetns = _ownNetns,
            Nftables = _nftables.Where(n => n.Value is not null).ToDictionary(n => n.Key, n => n.Value!),
        };
    }

    /// <summary>
    /// After an interval's records are attributed: arms what its unexplained netfilter drops asked for, and
    /// disarms the hook points whose drops stopped or were explained <see cref="ArmingPlan.DisarmAfter"/> ago.
    /// </summary>
    public void Arm(IReadOnlyList<ArmingRequest> requests, DateTimeOffset now)
    {
        try
        {
            ArmFor(requests, now);
        }
        catch (NativeException e)
        {
            // Attribution stays as good as what is armed; the drops themselves are counted regardless.
            _logger.LogWarning("arming attribution failed ({Error}); drops there are named from their location and stack", e.Message);
        }
    }

    private void ArmFor(IReadOnlyList<ArmingRequest> requests, DateTimeOffset now)
    {
        var armed = _plan.Add(requests.Where(r => !ArmedAlways(r.Point.Netns)), now);
        var disarmed = _plan.Expire(now);
        if (!armed && disarmed.Count == 0)
            return;
        foreach (var netns in _plan.Namespaces.Concat(_nftables.Keys).Where(n => !ArmedAlways(n)).Distinct().ToList())
            MarkIn(netns, _plan.MarksIn(netns));
        var observed = _plan.ObservedPoints.ToHashSet();
        if (_sentinels is not null)
        {
            foreach (var point in _sentinels.Points.Where(p => !observed.Contains(p) && !ArmedAlways(p.Netns)).ToList())
                _sentinels.Release(point);
            foreach (var point in observed)
                _sentinels.EnsureAt(point);
        }
        if (armed)
            _logger.LogInformation("netfilter drops not yet explained at {Points}: arming {What} there",
                                   string.Join(", ", requests.Select(r => Describe(r.Point)).Distinct()),
                                   observed.Count > 0 ? "nftables trace, sentinels and verdict observers" : "nftables trace");
        if (disarmed.Count > 0)
            _logger.LogInformation("no unexplained netfilter drops at {Points} for {Seconds} s: disarmed there",
                                   string.Join(", ", disarmed.Select(Describe)), ArmingPlan.DisarmAfter.TotalSeconds);
        RefreshHooks();
        ObserveFunctions();
    }

    /// <summary>With <see cref="Arming.Always"/>, Tracer's own namespace is armed for good; pods' namespaces still on demand.</summary>
    private bool ArmedAlways(uint netns) => _arming == Arming.Always && netns == _ownNetns;

    private string Describe(HookPoint point) =>
        $"{point.FamilyName} {point.HookName}{(point.Netns == _hookTables?.Netns ? "" : $" (netns {point.Netns})")}";

    /// <summary>Marks packets for nftables' trace in a namespace, starting to listen there first.</summary>
    private void MarkIn(uint netns, List<TraceMark> marks)
    {
        try
        {
            if (!_nftables.TryGetValue(netns, out var trace))
            {
                if (marks.Count == 0)
                    return;
                _nftables[netns] = trace = StartNftables(netns);
            }
            if (trace is null || trace.Marks.SetEquals(marks))
                return;
            InNamespace(netns, () => trace.Mark(marks));
        }
        catch (NativeException e)
        {
            _logger.LogWarning("nftables trace could not mark {Count} packet kinds in netns {Netns} ({Error}); their rules are named by chain only",
                               marks.Count, netns, e.Message);
        }
        catch (NamespaceGoneException)
        {
            Forget(netns);
        }
    }

    private void InNamespace(uint netns, Action action)
    {
        if (_hookTables is null || netns == _hookTables.Netns)
            action();
        else
            _hookTables.InNamespace(netns, action);
    }

    /// <summary>
    /// nftables' trace in a namespace (Tracer's own, or a pod's firewall): its netlink sockets there; null where
    /// nftables refuses it. Throws <see cref="NamespaceGoneException"/> for a namespace that is gone.
    /// </summary>
    private NftablesTrace? StartNftables(uint netns)
    {
        if (netns != _ownNetns && _hookTables?.Track(netns) != true)
            throw new NamespaceGoneException(netns);
        NftablesTrace? trace = null;
        InNamespace(netns, () => trace = Optional(Probe.TryLoad(NftablesTrace.Load, nftables => nftables.Attach()), _logger,
                                                $"nftables tracing unavailable in netns {netns} ({{Error}}); its nftables drops are attributed to their chain only"));
        return trace;
    }

    /// <summary>An nft listing in a namespace where Tracer runs nftables' trace (its netlink socket is there).</summary>
    private string? ListNftables(uint netns, string command) => _nftables.GetValueOrDefault(netns)?.List(command);

    /// <summary>An iptables chain's rules as iptables prints them, by the tool run inside the namespace.</summary>
    private IReadOnlyList<string>? ListIptablesChain(uint netns, string family, string table, string chain)
    {
        var tool = family switch { "ip" => "iptables-nft", "ip6" => "ip6tables-nft", "ipv4" => "iptables-legacy", "ipv6" => "ip6tables-legacy", _ => null };
        if (tool is null || (netns != _ownNetns && _hookTables?.Track(netns) != true))
            return null;
        try
        {
            string? listing = null;
            // A child process starts in the namespace of the thread that starts it.
            InNamespace(netns, () => listing = NodeTools.Run(tool, "-w", "2", "-t", table, "-S", chain));
            return listing?.Split('\n').Where(l => l.StartsWith("-A ", StringComparison.Ordinal)).ToList();
        }
        catch (NamespaceGoneException)
        {
            return null;
        }
    }

    /// <summary>A namespace's NFQUEUE bindings and netlink sockets, read by a thread inside it (/proc/thread-self/net is the thread's namespace's).</summary>
    private NamespaceQueueFiles? ReadQueueFiles(uint netns)
    {
        if (netns != _ownNetns && _hookTables?.Track(netns) != true)
            return null;
        try
        {
            NamespaceQueueFiles? files = null;
            InNamespace(netns, () => files = new NamespaceQueueFiles(
                // Absent where nfnetlink_queue is not loaded: then no queue has a listener.
                File.Exists("/proc/thread-self/net/netfilter/nfnetlink_queue") ? File.ReadAllText("/proc/thread-self/net/netfilter/nfnetlink_queue") : "",
                File.ReadAllText("/proc/thread-self/net/netlink")));
            return files;
        }
        catch (Exception e) when (e is NamespaceGoneException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A pod's namespace is gone: what Tracer had there goes too (its inode may come back as another's).</summary>
    private void Forget(uint netns)
    {
        if (_nftables.Remove(netns, out var nftables))
            nftables?.Dispose();
        _plan.Forget(netns);
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
        _tables = _hookTables.Read(sentinelPrograms);
        if (_sentinels?.Rebalance(_tables) == true)
        {
            foreach (var netns in _hookTables.CopyNow())
                Forget(netns);
            _tables = _hookTables.Read(sentinelPrograms);
        }
    }

    /// <summary>
    /// The exact tier, where the kernel allows it: the foreign hook functions at the hook points armed for
    /// observers (with <see cref="Arming.Always"/>, all of them) are watched; the others are released.
    /// </summary>
    private void ObserveFunctions()
    {
        if (_hookTables is null)
            return;
        var observed = _plan.ObservedPoints.ToHashSet();
        _verdicts.ObserveOnly([.. _tables
            .Where(t => _arming == Arming.Always || observed.Contains(t.Key))
            .SelectMany(t => t.Value)
            .Where(e => !e.IsOwn && e.Kind == hook_entry_kind.HOOK_ENTRY_FUNCTION && _symbols.Resolve(e.Function) is { Offset: 0 })
            .Select(e => (e.Function, _symbols.Resolve(e.Function)!.Value.Name))
            .Distinct()]);
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
