using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>The addresses, protocol and ports of a packet, as both the drop probe and nftrace see them.</summary>
internal readonly record struct FlowTuple(IPAddress Source, IPAddress Destination, byte Protocol, ushort SourcePort, ushort DestinationPort)
{
    public static FlowTuple? From(DropFlow flow) => flow is { Source: { } s, Destination: { } d }
        ? new FlowTuple(s, d, flow.L4Protocol, flow.SourcePort, flow.DestinationPort)
        : null;
}

/// <summary>A drop verdict that nftables itself reported through its trace facility.</summary>
internal sealed record NftVerdict(string Family, string Table, string Chain, ulong? Handle, bool Policy, FlowTuple Flow);

/// <summary>
/// nftables' own trace facility (<c>meta nftrace set 1</c>, events on NFNLGRP_NFTRACE) in Tracer's
/// network namespace. Tracer adds one table of its own, <c>inet tracer</c>, with rules that only mark
/// packets of watched addresses for tracing (rate-limited, so a flood costs little); the table is
/// owned by this process's netlink socket, so the kernel removes it when Tracer exits, even after
/// kill -9. Kernels before 5.12 have no owned tables: there Tracer deletes its table on exit, and a
/// table left by a killed Tracer at the next start. Its chains accept everything: no verdict of anyone else changes. Trace events are read
/// on a thread of their own (each is a netlink message of several KB, so bursts need draining);
/// those that end in a drop are kept per flow, so the attributor can name the exact rule or policy.
/// </summary>
internal sealed unsafe class NftablesTrace : IDisposable
{
    public const string TableName = "tracer";
    private const int TracedPerSecond = 200;

    /// <summary>Priority of Tracer's chains; the sentinels leave it alone as Tracer's own.</summary>
    public const int ChainPriority = int.MinValue + 2;
    private static readonly Dictionary<uint, string> Families = new() { [1] = "inet", [2] = "ip", [10] = "ip6", [3] = "arp", [7] = "bridge", [5] = "netdev" };

    private readonly NftContextHandle _nft;
    private readonly MnlSocketHandle _events;
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly Dictionary<FlowTuple, NftVerdict> _verdicts = [];
    // The kernel dumps a packet's headers once per chain; later events of the same trace id carry none.
    private readonly Dictionary<uint, FlowTuple> _flowsByTraceId = [];
    private readonly Dictionary<(string, string, string, ulong), string?> _ruleTexts = [];
    private readonly Lock _gate = new();
    private readonly Thread _reader;
    private GCHandle _self;
    private volatile bool _stopping;
    private readonly bool _ownedByKernel;

    private NftablesTrace(NftContextHandle nft, MnlSocketHandle events, bool ownedByKernel)
    {
        _nft = nft;
        _events = events;
        _ownedByKernel = ownedByKernel;
        _self = GCHandle.Alloc(this);
        _reader = new Thread(ReadEvents) { IsBackground = true, Name = "nftrace" };
        _reader.Start();
    }

    /// <summary>Creates Tracer's table in the calling thread's namespace and subscribes to trace events.</summary>
    public static NftablesTrace Start(IEnumerable<IPNetwork> watched)
    {
        var nft = Proxy.nft_ctx_new();
        MnlSocketHandle? events = null;
        try
        {
            events = Proxy.mnl_socket_open(Mnl.NETLINK_NETFILTER);
            Proxy.mnl_socket_join_group(events, Mnl.NFNLGRP_NFTRACE);
            Proxy.setsockopt_receive_timeout(events, TimeSpan.FromMilliseconds(100));
            Proxy.setsockopt_receive_buffer(events, 8 << 20);
            var owned = AddOwnedTable(nft);
            if (!owned)
            {
                // No NFT_TABLE_F_OWNER (before 5.12): a plain table, replacing one a killed Tracer left.
                try
                {
                    Proxy.nft_run_cmd_from_buffer(nft, $"delete table inet {TableName}");
                }
                catch (NativeException)
                {
                    // none was left
                }
                Proxy.nft_run_cmd_from_buffer(nft, $"add table inet {TableName}");
            }
            try
            {
                Proxy.nft_run_cmd_from_buffer(nft, TableContents(watched.ToList()));
            }
            catch when (!owned)
            {
                Proxy.nft_run_cmd_from_buffer(nft, $"delete table inet {TableName}");
                throw;
            }
            return new NftablesTrace(nft, events, owned);
        }
        catch
        {
            events?.Dispose();
            nft.Dispose();
            throw;
        }
    }

    /// <summary>Adds Tracer's table owned by this context's netlink socket; false where the kernel has no owned tables.</summary>
    private static bool AddOwnedTable(NftContextHandle nft)
    {
        try
        {
            Proxy.nft_run_cmd_from_buffer(nft, $"add table inet {TableName} {{ flags owner; }}");
            return true;
        }
        catch (NativeException e) when (e.Message.Contains("Invalid argument", StringComparison.Ordinal))
        {
            return false;
        }
    }

    /// <summary>What goes in Tracer's table: sets of watched addresses, and the earliest chains that mark their packets.</summary>
    internal static string TableContents(IReadOnlyList<IPNetwork> watched)
    {
        var commands = new List<string>
        {
            $"add set inet {TableName} watched4 {{ type ipv4_addr; flags interval; }}",
            $"add set inet {TableName} watched6 {{ type ipv6_addr; flags interval; }}",
        };
        commands.AddRange(SetElements(watched));
        // Right behind the lowest sentinel, so tracing starts before anyone else's chain.
        foreach (var (chain, hook) in new[] { ("pre", "prerouting"), ("out", "output") })
        {
            commands.Add($"add chain inet {TableName} {chain} {{ type filter hook {hook} priority {ChainPriority}; policy accept; }}");
            commands.Add($"add rule inet {TableName} {chain} ip daddr @watched4 limit rate {TracedPerSecond}/second burst {TracedPerSecond} packets meta nftrace set 1");
            commands.Add($"add rule inet {TableName} {chain} ip saddr @watched4 limit rate {TracedPerSecond}/second burst {TracedPerSecond} packets meta nftrace set 1");
            commands.Add($"add rule inet {TableName} {chain} ip6 daddr @watched6 limit rate {TracedPerSecond}/second burst {TracedPerSecond} packets meta nftrace set 1");
            commands.Add($"add rule inet {TableName} {chain} ip6 saddr @watched6 limit rate {TracedPerSecond}/second burst {TracedPerSecond} packets meta nftrace set 1");
        }
        return string.Join('\n', commands);
    }

    /// <summary>Replaces the watched addresses (pods came or went) in one transaction: no packet sees an empty set.</summary>
    public void Watch(IReadOnlyList<IPNetwork> watched) => Proxy.nft_run_cmd_from_buffer(_nft, string.Join('\n',
        [$"flush set inet {TableName} watched4", $"flush set inet {TableName} watched6", .. SetElements(watched)]));

    private static IEnumerable<string> SetElements(IReadOnlyList<IPNetwork> watched)
    {
        static string Elements(IEnumerable<IPNetwork> networks) => string.Join(", ", networks.Select(n =>
            n.PrefixLength == (n.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) ? n.BaseAddress.ToString() : n.ToString()));

        var v4 = watched.Where(n => n.BaseAddress.AddressFamily == AddressFamily.InterNetwork).ToList();
        var v6 = watched.Where(n => n.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6).ToList();
        if (v4.Count > 0)
            yield return $"add element inet {TableName} watched4 {{ {Elements(v4)} }}";
        if (v6.Count > 0)
            yield return $"add element inet {TableName} watched6 {{ {Elements(v6)} }}";
    }

    private long _rounds;

    private void ReadEvents()
    {
        while (!_stopping)
        {
            Interlocked.Increment(ref _rounds);
            var received = Proxy.mnl_socket_recvfrom(_events, _buffer);
            if (received > 0)
                Proxy.mnl_cb_run(_buffer.AsSpan(0, received), &OnMessage, (void*)GCHandle.ToIntPtr(_self));
        }
    }

    /// <summary>Returns once every trace event already queued on these traces' sockets has been read.</summary>
    public static void CatchUp(IReadOnlyCollection<NftablesTrace> traces)
    {
        // Events are queued synchronously as packets traverse nftables; each reader drains them within
        // its receive timeout. Waiting for one more round trip of every reader (together, not one after
        // another: one per traced namespace) covers what is queued now.
        var rounds = traces.Select(t => (Trace: t, Round: Volatile.Read(ref t._rounds))).ToList();
        var deadline = Environment.TickCount64 + 500;
        while (rounds.Any(r => Volatile.Read(ref r.Trace._rounds) < r.Round + 2 && r.Trace._reader.IsAlive) &&
               Environment.TickCount64 < deadline)
            Thread.Sleep(5);
    }

    /// <summary>
    /// The latest drop verdict nftables reported for this flow; else for the same client address and
    /// service (another source port: probes open a new socket each time).
    /// </summary>
    public NftVerdict? VerdictFor(DropFlow flow)
    {
        if (FlowTuple.From(flow) is not { } tuple)
            return null;
        lock (_gate)
            return _verdicts.TryGetValue(tuple, out var verdict) ? verdict : _verdicts.GetValueOrDefault(tuple with { SourcePort = 0 });
    }

    /// <summary>The rule as <c>nft -a list chain</c> prints it, without its handle comment.</summary>
    public string? RuleText(NftVerdict verdict)
    {
        if (verdict.Handle is not { } handle)
            return null;
        var key = (verdict.Family, verdict.Table, verdict.Chain, handle);
        if (_ruleTexts.TryGetValue(key, out var cached))
            return cached;
        string? text = null;
        try
        {
            var listing = Proxy.nft_run_cmd_from_buffer(_nft, $"list chain {verdict.Family} {verdict.Table} {verdict.Chain}");
            var marker = $"# handle {handle}";
            text = listing.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.EndsWith(marker, StringComparison.Ordinal))?[..^marker.Length].Trim();
        }
        catch (NativeException)
        {
            // The chain is gone: the rule text is unknown, the rest of the verdict still holds.
        }
        return _ruleTexts[key] = text;
    }

    [UnmanagedCallersOnly]
    private static int OnMessage(nlmsghdr* message, void* context)
    {
        var self = (NftablesTrace)GCHandle.FromIntPtr((nint)context).Target!;
        self.Record(message);
        return Mnl.MNL_CB_OK;
    }

    private void Record(nlmsghdr* message)
    {
        if (Proxy.nftnl_trace_nlmsg_parse(message) is not { } trace)
            return;
        if (ParseFlow(trace.NetworkHeader, trace.TransportHeader) is { } parsed)
        {
            if (_flowsByTraceId.Count > 4096)
                _flowsByTraceId.Clear();
            _flowsByTraceId[trace.Id] = parsed;
        }
        var policy = trace.Type == Nftnl.NFT_TRACETYPE_POLICY;
        if (!policy && trace.Type != Nftnl.NFT_TRACETYPE_RULE)
            return;
        if ((policy ? trace.Policy : trace.Verdict) != Nftnl.NF_DROP || !_flowsByTraceId.TryGetValue(trace.Id, out var flow))
            return;
        var verdict = new NftVerdict(Families.GetValueOrDefault(trace.Family, "inet"), trace.Table, trace.Chain, trace.RuleHandle, policy, flow);
        lock (_gate)
        {
            if (_verdicts.Count > 65536)
                _verdicts.Clear(); // bounded memory: a port scan must not grow this forever
            _verdicts[flow] = verdict;
            _verdicts[flow with { SourcePort = 0 }] = verdict;
        }
    }

    /// <summary>The 5-tuple from the network and transport headers the trace event carries.</summary>
    private static FlowTuple? ParseFlow(ReadOnlySpan<byte> network, ReadOnlySpan<byte> transport)
    {
        if (network.Length < 20)
            return null;
        IPAddress source, destination;
        byte protocol;
        if (network[0] >> 4 == 4)
        {
            protocol = network[9];
            source = new IPAddress(network.Slice(12, 4));
            destination = new IPAddress(network.Slice(16, 4));
        }
        else if (network[0] >> 4 == 6 && network.Length >= 40)
        {
            protocol = network[6];
            source = new IPAddress(network.Slice(8, 16));
            destination = new IPAddress(network.Slice(24, 16));
        }
        else
        {
            return null;
        }
        ushort first = 0, second = 0;
        if (protocol is 6 or 17 && transport.Length >= 4)
        {
            first = BinaryPrimitives.ReadUInt16BigEndian(transport);
            second = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
        }
        else if (protocol is 1 or 58 && transport.Length >= 2)
        {
            first = transport[0];
            second = transport[1];
        }
        return new FlowTuple(source, destination, protocol, first, second);
    }

    public void Dispose()
    {
        _stopping = true;
        _reader.Join();
        _events.Dispose();
        if (!_ownedByKernel)
        {
            try
            {
                Proxy.nft_run_cmd_from_buffer(_nft, $"delete table inet {TableName}");
            }
            catch (NativeException)
            {
                // already gone (a flush of the ruleset, or the namespace itself)
            }
        }
        _nft.Dispose(); // closes the socket that owns the table: the kernel deletes it
        if (_self.IsAllocated)
            _self.Free();
    }
}
