using Tracer.Kernel;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>A netfilter hook point of one network namespace.</summary>
internal readonly record struct HookPoint(uint Netns, byte Family, byte Hook)
{
    public const byte IPv4 = 2;
    public const byte IPv6 = 10;

    public static readonly string[] HookNames = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

    public string HookName => Hook < HookNames.Length ? HookNames[Hook] : $"HOOK_{Hook}";

    public string FamilyName => Family == IPv4 ? "ipv4" : Family == IPv6 ? "ipv6" : $"pf{Family}";
}

/// <summary>One registered hook as a sentinel last saw it, in the order the kernel runs them.</summary>
/// <param name="IsSentinel">One of Tracer's sentinels.</param>
/// <param name="IsOwn">Tracer's own: a sentinel or a chain of Tracer's nftables table; never a culprit.</param>
internal sealed record HookEntry(int Priority, ulong Function, hook_entry_kind Kind, uint BpfProgramId, string Name, string Table, bool IsSentinel, bool IsOwn);

/// <summary>
/// User-space half of bpf/netfilter_sentinel.bpf.c. Attaches accept-only sentinels — a
/// <c>sentinel_first</c> at the lowest priority of a hook point, and a <c>sentinel</c> right behind
/// each hook registered there by anything else — at the hook points where netfilter drops happen
/// (in Tracer's namespace or a pod's), or at all of Tracer's, and reads the hook tables they copy. A netfilter
/// drop then carries how many sentinels the packet passed, which brackets the hook that dropped it.
/// Sentinel links are BPF links owned by this process: they go away with it, even after kill -9.
/// </summary>
internal sealed class NetfilterSentinels : IDisposable
{
    private const string ObjectFile = "netfilter_sentinel.bpf.o";
    private const int LowestPriority = int.MinValue + 1; // the kernel refuses NF_IP_PRI_FIRST itself

    private readonly BpfObject _object;
    private readonly BpfProgram _first;
    private readonly BpfProgram _behind;
    private readonly uint[] _programIds;
    private readonly uint _netns;
    private readonly Dictionary<(HookPoint Point, int Priority), BpfLink> _links = [];
    private readonly Dictionary<HookPoint, int> _firstPriority = [];
    // Namespaces with sentinels, and a path to enter each; null for Tracer's own.
    private readonly Dictionary<uint, string?> _namespaces = [];
    private readonly BpfMap _tables;
    private readonly BpfMap _entries;

    private NetfilterSentinels(BpfObject obj, uint netns)
    {
        _object = obj;
        _first = obj.Program("sentinel_first");
        _behind = obj.Program("sentinel");
        _programIds = [Proxy.bpf_obj_get_info_by_fd(_first.Fd).id, Proxy.bpf_obj_get_info_by_fd(_behind.Fd).id];
        _tables = obj.Map("hook_tables");
        _entries = obj.Map("hook_entries");
        _netns = netns;
        _namespaces[netns] = null;
    }

    /// <summary>Loads the sentinel program, sharing the trail map with the drop probe.</summary>
    public static NetfilterSentinels Load(BpfMap sentinelTrail, KernelSymbols symbols)
    {
        var obj = BpfObject.Open(EmbeddedObjects.Read(ObjectFile), "nf_sentinel");
        try
        {
            foreach (var program in obj.Programs)
                program.SetType((bpf_prog_type)Libbpf.TRACER_BPF_PROG_TYPE_NETFILTER, (bpf_attach_type)Libbpf.TRACER_BPF_NETFILTER);
            obj.SetReadOnlyData(".rodata.config", Config(symbols));
            obj.ShareMap("sentinel_trail", sentinelTrail);
            obj.Load();
            return new NetfilterSentinels(obj, NetworkNamespace.CurrentInode());
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>Tracer's own network namespace.</summary>
    public uint Netns => _netns;

    /// <summary>Starts bracketing every IPv4 and IPv6 hook point of Tracer's namespace.</summary>
    public void AttachEverywhere()
    {
        foreach (var family in new[] { HookPoint.IPv4, HookPoint.IPv6 })
            for (byte hook = 0; hook < HookPoint.HookNames.Length; hook++)
                EnsureAt(new HookPoint(_netns, family, hook));
    }

    /// <summary>
    /// Starts bracketing one hook point, in any namespace Tracer can enter (its first sentinel;
    /// <see cref="Rebalance"/> adds the rest). Returns false when it is already bracketed or its
    /// namespace cannot be found. Packets pay for sentinels only where they are.
    /// </summary>
    public bool EnsureAt(HookPoint point)
    {
        if (_firstPriority.ContainsKey(point))
            return false;
        if (!_namespaces.ContainsKey(point.Netns))
        {
            if (NetworkNamespace.FindPath(point.Netns) is not { } path)
                return false;
            _namespaces[point.Netns] = path;
        }
        InNamespace(point.Netns, () => AttachFirst(point));
        return true;
    }

    /// <summary>Runs <paramref name="action"/> where links and test runs reach namespace <paramref name="netns"/>.</summary>
    private void InNamespace(uint netns, Action action)
    {
        if (_namespaces[netns] is { } path)
            NetworkNamespace.RunIn(path, () => { action(); return true; });
        else
            action();
    }

    /// <summary>
    /// The kernel refuses a BPF hook at a priority already in use (EBUSY), e.g. by Tracer's own nftables
    /// chain or another Tracer: the first sentinel takes the lowest free one.
    /// </summary>
    private void AttachFirst(HookPoint point)
    {
        for (var priority = LowestPriority; priority < LowestPriority + 64; priority++)
        {
            try
            {
                _links[(point, priority)] = _first.AttachNetfilter(point.Family, point.Hook, priority);
                _firstPriority[point] = priority;
                return;
            }
            catch (NativeException e) when (e.Errno == 16)
            {
                // taken: try the next
            }
        }
        throw new NativeException($"attaching the first sentinel at {point.HookName}", 16, "every low priority is taken", []);
    }

    /// <summary>
    /// Has the sentinel copy every hook table of each namespace with sentinels (and Tracer's own) now,
    /// without waiting for traffic: BPF_PROG_TEST_RUN runs it once per hook point on a dummy packet,
    /// in the namespace of the calling thread.
    /// </summary>
    public void CopyTablesNow()
    {
        foreach (var netns in _namespaces.Keys)
            InNamespace(netns, () =>
            {
                foreach (var family in new[] { HookPoint.IPv4, HookPoint.IPv6 })
                {
                    var packet = DummyFrame(family);
                    for (byte hook = 0; hook < HookPoint.HookNames.Length; hook++)
                    {
                        _tables.Delete(new hook_point { netns = netns, pf = family, hooknum = hook });
                        _first.TestRun(HookStateContext(family, hook), packet);
                    }
                }
            });
    }

    /// <summary>The part of struct nf_hook_state test runs accept: hook and pf; every pointer must stay null.</summary>
    private static byte[] HookStateContext(byte family, byte hook)
    {
        var context = new byte[64];
        context[0] = hook;
        context[1] = family;
        return context;
    }

    /// <summary>An Ethernet frame with an empty IP header: the kernel checks only the ethertype and version.</summary>
    private static byte[] DummyFrame(byte family)
    {
        var frame = new byte[14 + 40];
        var ipv6 = family == HookPoint.IPv6;
        frame[12] = (byte)(ipv6 ? 0x86 : 0x08);
        frame[13] = (byte)(ipv6 ? 0xDD : 0x00);
        frame[14] = (byte)(ipv6 ? 0x60 : 0x45);
        return frame;
    }

    /// <summary>The hook tables the sentinels last copied, keyed by hook point.</summary>
    public Dictionary<HookPoint, IReadOnlyList<HookEntry>> ReadTables()
    {
        var tables = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>();
        foreach (var point in _tables.Keys<hook_point>())
        {
            if (!_tables.Lookup(point, out hook_table table))
                continue;
            var entries = new List<HookEntry>();
            for (var i = 0u; i < Math.Min(table.count, (uint)NetfilterHooks.TRACER_MAX_HOOK_ENTRIES); i++)
            {
                if (_entries.Lookup(new hook_entry_key { point = point, index = i }, out hook_entry entry))
                    entries.Add(ToEntry(entry));
            }
            tables[new HookPoint(point.netns, point.pf, point.hooknum)] = entries;
        }
        return tables;
    }

    /// <summary>
    /// Puts a sentinel right behind every foreign hook of each bracketed hook point, and removes those
    /// whose hook is gone, so each foreign hook sits alone between two sentinels where priorities allow.
    /// </summary>
    /// <returns>True when a sentinel was added or removed.</returns>
    public bool Rebalance(Dictionary<HookPoint, IReadOnlyList<HookEntry>> tables)
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
            InNamespace(point.Netns, () =>
            {
                foreach (var priority in missing)
                    _links[(point, priority)] = _behind.AttachNetfilter(point.Family, point.Hook, priority);
            });
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

    private unsafe HookEntry ToEntry(in hook_entry entry)
    {
        fixed (sbyte* name = entry.name)
        fixed (sbyte* table = entry.table)
        {
            var kind = (hook_entry_kind)entry.kind;
            var sentinel = kind == hook_entry_kind.HOOK_ENTRY_BPF && _programIds.Contains(entry.bpf_prog_id);
            var tableName = CString(table);
            var own = sentinel || (kind == hook_entry_kind.HOOK_ENTRY_NFTABLES && tableName == NftablesTrace.TableName);
            return new HookEntry(entry.priority, entry.function, kind, entry.bpf_prog_id, CString(name), tableName, sentinel, own);
        }
    }

    private static unsafe string CString(sbyte* text) => System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)text) ?? "";

    /// <summary>The hook functions whose priv the sentinel decodes: nftables chains and BPF links.</summary>
    private static unsafe sentinel_config Config(KernelSymbols symbols)
    {
        var config = new sentinel_config { bpf_function = symbols.AddressOf("nf_hook_run_bpf") };
        config.nft_functions[0] = symbols.AddressOf("nft_do_chain_inet");
        config.nft_functions[1] = symbols.AddressOf("nft_do_chain_ipv4");
        config.nft_functions[2] = symbols.AddressOf("nft_do_chain_ipv6");
        return config;
    }

    public void Dispose()
    {
        foreach (var link in _links.Values)
            link.Dispose();
        _links.Clear();
        _object.Dispose();
    }
}
