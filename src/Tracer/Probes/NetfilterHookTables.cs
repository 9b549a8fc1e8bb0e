using Tracer.Kernel;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>A netfilter hook point of one network namespace.</summary>
internal readonly record struct HookPoint(uint Netns, byte Family, byte Hook)
{
    public const byte IPv4 = (byte)NfProto.NFPROTO_IPV4;
    public const byte IPv6 = (byte)NfProto.NFPROTO_IPV6;

    /// <summary>The IPv4/IPv6 hooks, numbered 0 to this minus one.</summary>
    public const byte Hooks = (byte)nf_inet_hooks.NF_INET_NUMHOOKS;

    public string HookName => Name(Hook);

    /// <summary>A hook as iptables names it (nft's hook keywords are these in lower case).</summary>
    public static string Name(byte hook) => (nf_inet_hooks)hook switch
    {
        nf_inet_hooks.NF_INET_PRE_ROUTING => "PREROUTING",
        nf_inet_hooks.NF_INET_LOCAL_IN => "INPUT",
        nf_inet_hooks.NF_INET_FORWARD => "FORWARD",
        nf_inet_hooks.NF_INET_LOCAL_OUT => "OUTPUT",
        nf_inet_hooks.NF_INET_POST_ROUTING => "POSTROUTING",
        _ => $"HOOK_{hook}",
    };

    public string FamilyName => Family == IPv4 ? "ipv4" : Family == IPv6 ? "ipv6" : $"pf{Family}";

    /// <summary>The netfilter family whose hooks a dropped packet passed.</summary>
    public static byte FamilyOf(DropFlow flow) => flow.IsIPv6 ? IPv6 : IPv4;

    /// <summary>Where packets enter a family's hooks: every packet passes one of them first (received, or sent locally).</summary>
    public static readonly byte[] EntryHooks = [(byte)nf_inet_hooks.NF_INET_PRE_ROUTING, (byte)nf_inet_hooks.NF_INET_LOCAL_OUT];
}

/// <summary>One registered hook as the kernel's table holds it, in the order the kernel runs them.</summary>
/// <param name="IsSentinel">One of Tracer's sentinels.</param>
/// <param name="IsOwn">A Tracer's (this one's or another's beside it): a sentinel or a chain of a Tracer's nftables table; never a culprit.</param>
internal sealed record HookEntry(int Priority, ulong Function, hook_entry_kind Kind, uint BpfProgramId, string Name, string Table, bool IsSentinel, bool IsOwn);

/// <summary>A tracked namespace is gone (its pod was deleted), or its path now leads elsewhere (a reused pid).</summary>
internal sealed class NamespaceGoneException(uint netns) : Exception($"network namespace {netns} is gone")
{
    public uint Netns { get; } = netns;
}

/// <summary>
/// User-space half of bpf/netfilter_hook_tables.bpf.c: copies the netfilter hook tables of the
/// namespaces it tracks (Tracer's own, and those where netfilter drops happen) by test-running the
/// reader in each namespace, and reads them back. Works on every kernel with raw_tp test runs (5.10+),
/// with or without BPF netfilter programs.
/// </summary>
internal sealed class NetfilterHookTables : IProbe
{
    private readonly BpfObject _object;
    private readonly BpfProgram _reader;
    private readonly BpfMap _tables;
    private readonly BpfMap _entries;
    // Tracked namespaces, and a path to enter each; null for Tracer's own.
    private readonly Dictionary<uint, string?> _namespaces = [];
    private readonly HashSet<uint> _unfound = [];

    private NetfilterHookTables(BpfObject obj)
    {
        _object = obj;
        _reader = obj.Program(NetfilterHookTablesObject.Programs.copy_hook_table);
        _tables = obj.Map(NetfilterHookTablesObject.Maps.hook_tables);
        _entries = obj.Map(NetfilterHookTablesObject.Maps.hook_entries);
        Netns = NetworkNamespace.CurrentInode();
        _namespaces[Netns] = null;
    }

    /// <summary>Loads the reader; <see cref="Attach"/> runs it.</summary>
    public static NetfilterHookTables Load(KernelSymbols symbols) =>
        EmbeddedObjects.Load(NetfilterHookTablesObject.File,
                             obj => obj.SetReadOnlyData(NetfilterHookTablesObject.Maps.rodata_config, Config(symbols)),
                             obj => new NetfilterHookTables(obj));

    /// <summary>Copies Tracer's own namespace's tables once: a kernel that refuses the test runs fails here.</summary>
    public void Attach() => CopyNow();

    /// <summary>Tracer's own network namespace.</summary>
    public uint Netns { get; }

    /// <summary>Starts tracking a namespace; false when no process or mount of it can be found (asked once).</summary>
    public bool Track(uint netns)
    {
        if (_namespaces.ContainsKey(netns))
            return true;
        if (_unfound.Contains(netns))
            return false;
        if (NetworkNamespace.FindPath(netns) is not { } path)
        {
            _unfound.Add(netns);
            return false;
        }
        _namespaces[netns] = path;
        return true;
    }

    /// <summary>
    /// Runs <paramref name="action"/> where links and test runs reach tracked namespace <paramref name="netns"/>;
    /// throws <see cref="NamespaceGoneException"/> (and forgets it) when that namespace no longer exists there.
    /// </summary>
    public void InNamespace(uint netns, Action action) => InNamespace(netns, () => { action(); return true; });

    public T InNamespace<T>(uint netns, Func<T> action)
    {
        if (_namespaces[netns] is not { } path)
            return action();
        try
        {
            return NetworkNamespace.RunIn(path, () =>
                NetworkNamespace.CurrentInode() == netns ? action() : throw new NamespaceGoneException(netns));
        }
        catch (Exception e) when (e is IOException or NamespaceGoneException)
        {
            Forget(netns);
            throw new NamespaceGoneException(netns);
        }
    }

    /// <summary>Stops tracking a namespace that is gone, and drops its copied tables.</summary>
    private void Forget(uint netns)
    {
        _namespaces.Remove(netns);
        _unfound.Add(netns);
        foreach (var point in _tables.Keys<hook_point>().Where(p => p.netns == netns).ToList())
        {
            for (var i = 0u; i < NetfilterHooks.TRACER_MAX_HOOK_ENTRIES; i++)
                _entries.Delete(new hook_entry_key { point = point, index = i });
            _tables.Delete(point);
        }
    }

    /// <summary>
    /// Copies every IPv4 and IPv6 hook table of each tracked namespace now, without waiting for traffic.
    /// Returns the namespaces found gone meanwhile (no longer tracked).
    /// </summary>
    public List<uint> CopyNow()
    {
        var gone = new List<uint>();
        foreach (var netns in _namespaces.Keys.ToList())
        {
            try
            {
                CopyIn(netns);
            }
            catch (NamespaceGoneException)
            {
                gone.Add(netns);
            }
        }
        return gone;
    }

    private void CopyIn(uint netns) => InNamespace(netns, () =>
    {
        Span<byte> args = stackalloc byte[2 * sizeof(ulong)];
        foreach (var family in new[] { HookPoint.IPv4, HookPoint.IPv6 })
            for (byte hook = 0; hook < HookPoint.Hooks; hook++)
            {
                BitConverter.TryWriteBytes(args, (ulong)family);
                BitConverter.TryWriteBytes(args[sizeof(ulong)..], (ulong)hook);
                _reader.TestRun(args, []);
            }
    });

    /// <summary>The tables last copied, keyed by hook point; entries of <paramref name="ownPrograms"/> are Tracer's sentinels.</summary>
    public Dictionary<HookPoint, IReadOnlyList<HookEntry>> Read(IReadOnlySet<uint> ownPrograms)
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
                    entries.Add(ToEntry(entry, ownPrograms));
            }
            tables[new HookPoint(point.netns, point.pf, point.hooknum)] = entries;
        }
        return tables;
    }

    private static unsafe HookEntry ToEntry(in hook_entry entry, IReadOnlySet<uint> ownPrograms)
    {
        fixed (sbyte* name = entry.name)
        fixed (sbyte* table = entry.table)
        {
            var kind = (hook_entry_kind)entry.kind;
            var sentinel = kind == hook_entry_kind.HOOK_ENTRY_BPF && ownPrograms.Contains(entry.bpf_prog_id);
            var tableName = CString(table);
            var hookName = CString(name);
            // Any Tracer's hooks (this one's, or another's running beside it) accept everything: never a culprit.
            var own = sentinel ||
                      (kind == hook_entry_kind.HOOK_ENTRY_NFTABLES && NftablesTrace.IsTracerTable(tableName)) ||
                      (kind == hook_entry_kind.HOOK_ENTRY_BPF && NetfilterSentinels.ProgramNames.Contains(hookName));
            return new HookEntry(entry.priority, entry.function, kind, entry.bpf_prog_id, hookName, tableName, sentinel, own);
        }
    }

    private static unsafe string CString(sbyte* text) => System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)text) ?? "";

    /// <summary>The hook functions whose priv the reader decodes: nftables chains and BPF links (0 where absent).</summary>
    private static unsafe hook_table_config Config(KernelSymbols symbols)
    {
        var config = new hook_table_config { bpf_function = symbols.AddressOf("nf_hook_run_bpf") };
        config.nft_functions[0] = symbols.AddressOf("nft_do_chain_inet");
        config.nft_functions[1] = symbols.AddressOf("nft_do_chain_ipv4");
        config.nft_functions[2] = symbols.AddressOf("nft_do_chain_ipv6");
        return config;
    }

    public void Dispose() => _object.Dispose();
}
