using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// User-space half of bpf/netfilter_sentinel.bpf.c. Attaches accept-only sentinels — a
/// <c>sentinel_first</c> at the lowest priority of a hook point, and a <c>sentinel</c> right behind
/// each hook registered there by anything else — at the hook points where netfilter drops are not yet
/// explained (in Tracer's namespace or a pod's), or at all of Tracer's. A netfilter drop then carries how
/// many sentinels the packet passed, which, with the hook tables, brackets the hook that dropped it.
/// Every packet at a bracketed hook point runs them, so they are released once the drops there are explained.
/// Needs BPF netfilter links (kernel 6.4+).
/// Sentinel links are BPF links owned by this process: they go away with it, even after kill -9.
/// </summary>
internal sealed class NetfilterSentinels : IProbe
{
    /// <summary>The programs' names, as the hook tables show any Tracer's sentinels.</summary>
    public static readonly IReadOnlySet<string> ProgramNames =
        new HashSet<string> { NetfilterSentinelObject.Programs.sentinel_first, NetfilterSentinelObject.Programs.sentinel };
    private const int LowestPriority = int.MinValue + 1; // the kernel refuses NF_IP_PRI_FIRST itself

    private readonly BpfObject _object;
    private readonly BpfProgram _first;
    private readonly BpfProgram _behind;
    private readonly NetfilterHookTables _tables;
    private readonly Dictionary<(HookPoint Point, int Priority), BpfLink> _links = [];
    private readonly Dictionary<HookPoint, int> _firstPriority = [];

    private NetfilterSentinels(BpfObject obj, NetfilterHookTables tables)
    {
        _object = obj;
        _first = obj.Program(NetfilterSentinelObject.Programs.sentinel_first);
        _behind = obj.Program(NetfilterSentinelObject.Programs.sentinel);
        ProgramIds = new HashSet<uint> { Proxy.bpf_obj_get_info_by_fd(_first.Fd).id, Proxy.bpf_obj_get_info_by_fd(_behind.Fd).id };
        _tables = tables;
    }

    /// <summary>Loads the sentinel programs, sharing the trail map with the drop probe; none is attached yet.</summary>
    public static NetfilterSentinels Load(BpfMap sentinelTrail, NetfilterHookTables tables) =>
        EmbeddedObjects.Load(NetfilterSentinelObject.File, obj =>
        {
            foreach (var program in obj.Programs)
                program.SetType((bpf_prog_type)Libbpf.TRACER_BPF_PROG_TYPE_NETFILTER, (bpf_attach_type)Libbpf.TRACER_BPF_NETFILTER);
            obj.ShareMap(NetfilterSentinelObject.Maps.sentinel_trail, sentinelTrail);
        }, obj => new NetfilterSentinels(obj, tables));

    /// <summary>The sentinels' program ids: how the hook tables tell them from foreign BPF hooks.</summary>
    public IReadOnlySet<uint> ProgramIds { get; }

    /// <summary>Starts bracketing every IPv4 and IPv6 hook point of Tracer's namespace (on demand: <see cref="EnsureAt"/> instead).</summary>
    public void Attach()
    {
        foreach (var family in new[] { HookPoint.IPv4, HookPoint.IPv6 })
            for (byte hook = 0; hook < HookPoint.Hooks; hook++)
                EnsureAt(new HookPoint(_tables.Netns, family, hook));
    }

    /// <summary>
    /// Starts bracketing one hook point, in any namespace Tracer can enter (its first sentinel;
    /// <see cref="Rebalance"/> adds the rest). Returns false when it is already bracketed or its
    /// namespace cannot be found. Packets pay for sentinels only where they are.
    /// </summary>
    public bool EnsureAt(HookPoint point)
    {
        if (_firstPriority.ContainsKey(point) || !_tables.Track(point.Netns))
            return false;
        try
        {
            _tables.InNamespace(point.Netns, () => AttachFirst(point));
            return true;
        }
        catch (NamespaceGoneException)
        {
            return false;
        }
    }

    /// <summary>The hook points bracketed now.</summary>
    public IReadOnlyCollection<HookPoint> Points => _firstPriority.Keys;

    /// <summary>Drops the links of a namespace that is gone (its hooks went with it).</summary>
    public void Forget(uint netns)
    {
        foreach (var point in _firstPriority.Keys.Where(p => p.Netns == netns).ToList())
            Release(point);
    }

    /// <summary>Stops bracketing a hook point: its packets run no sentinel any more.</summary>
    public void Release(HookPoint point)
    {
        foreach (var key in _links.Keys.Where(k => k.Point == point).ToList())
        {
            _links[key].Dispose();
            _links.Remove(key);
        }
        _firstPriority.Remove(point);
    }

    /// <summary>
    /// The kernel refuses a BPF hook at a priority already in use (EBUSY), e.g. by Tracer's own nftables
    /// chain or another Tracer: the first sentinel takes the lowest free one. When all 64 lowest are
    /// taken, the kernel's EBUSY for the last one is the failure.
    /// </summary>
    private void AttachFirst(HookPoint point)
    {
        const int Priorities = 64;
        for (var priority = LowestPriority; ; priority++)
        {
            try
            {
                _links[(point, priority)] = _first.AttachNetfilter(point.Family, point.Hook, priority);
                _firstPriority[point] = priority;
                return;
            }
            catch (NativeException e) when (e.Errno == Errno.EBUSY && priority < LowestPriority + Priorities - 1)
            {
                // taken: try the next
            }
        }
    }

    /// <summary>
    /// Puts a sentinel right behind every foreign hook of each bracketed hook point, and removes those
    /// whose hook is gone, so each foreign hook sits alone between two sentinels where priorities allow.
    /// </summary>
    /// <returns>True when a sentinel was added or removed.</returns>
    public bool Rebalance(IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> tables)
    {
        var changed = false;
        foreach (var (point, entries) in tables)
        {
            if (!_firstPriority.TryGetValue(point, out var first))
                continue;
            var wanted = SentinelPriorities(entries).Append(first).ToHashSet();
            foreach (var stale in _links.Keys.Where(k => k.Point == point && !wanted.Contains(k.Priority)).ToList())
            {
                _links[stale].Dispose();
                _links.Remove(stale);
                changed = true;
            }
            var missing = wanted.Where(p => !_links.ContainsKey((point, p))).ToList();
            if (missing.Count == 0)
                continue;
            try
            {
                _tables.InNamespace(point.Netns, () =>
                {
                    foreach (var priority in missing)
                        _links[(point, priority)] = _behind.AttachNetfilter(point.Family, point.Hook, priority);
                });
            }
            catch (NamespaceGoneException)
            {
                Forget(point.Netns);
            }
            changed = true;
        }
        return changed;
    }

    /// <summary>
    /// Where the sentinels behind foreign hooks go: the first priority after each foreign hook that no
    /// other hook uses (BPF hooks may not share one) and that still comes before the next foreign hook.
    /// Where there is none, two foreign hooks share a bracket.
    /// </summary>
    internal static IEnumerable<int> SentinelPriorities(IReadOnlyList<HookEntry> entries)
    {
        var used = entries.Where(e => !e.IsSentinel).Select(e => e.Priority).ToHashSet();
        var foreign = entries.Where(e => !e.IsOwn).Select(e => e.Priority).Distinct().Order().ToList();
        for (var i = 0; i < foreign.Count; i++)
        {
            var limit = i + 1 < foreign.Count ? foreign[i + 1] : int.MaxValue;
            for (var candidate = (long)foreign[i] + 1; candidate < limit; candidate++)
            {
                if (!used.Contains((int)candidate))
                {
                    yield return (int)candidate;
                    break;
                }
            }
        }
    }

    public void Dispose()
    {
        foreach (var link in _links.Values)
            link.Dispose();
        _links.Clear();
        _object.Dispose();
    }
}
