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

/// <summary>
/// A drop verdict that nftables itself reported through its trace facility; or a rule's verdict that handed the
/// packet to NFQUEUE <paramref name="Queue"/>, whose listener decides (and may drop it) in user space.
/// </summary>
internal sealed record NftVerdict(string Family, string Table, string Chain, ulong? Handle, bool Policy, FlowTuple Flow, ushort? Queue = null);

/// <summary>
/// Packets nftables' trace should follow at one hook point (PREROUTING … POSTROUTING): those to
/// (or, <paramref name="Source"/>, from) <paramref name="Network"/>, of <paramref name="Protocol"/>
/// (0: any) and destination <paramref name="Port"/> (0: any).
/// </summary>
internal readonly record struct TraceMark(byte Hook, IPNetwork Network, bool Source = false, byte Protocol = 0, ushort Port = 0)
{
    public bool IsIPv4 => Network.BaseAddress.AddressFamily == AddressFamily.InterNetwork;
}

/// <summary>
/// nftables' own trace facility (<c>meta nftrace set 1</c>, events on NFNLGRP_NFTRACE) in one network
/// namespace. Listening costs packets nothing; marking does: only while <see cref="Mark"/> has marks
/// does Tracer have a table there, <c>inet tracer_PID</c>, whose chains come first at the marked hook
/// points and set the trace bit on the marked packets only (rate-limited, so a flood costs little).
/// The table is owned by this process's netlink socket, so the kernel removes it when Tracer exits,
/// even after kill -9; its name is the process's, so several Tracers mark side by side. Kernels before
/// 5.12 have no owned tables: there Tracer deletes its table on exit, and tables of Tracers no longer
/// running at the next start. Its chains accept everything: no verdict of anyone else changes. Trace
/// events (of every marker's packets) are read on a thread of their own (each is a netlink message of
/// several KB, so bursts need draining); those that end in a drop are kept per flow, so the attributor
/// can name the exact rule or policy.
/// </summary>
internal sealed unsafe class NftablesTrace : IProbe
{
    private const string TablePrefix = "tracer";
    // Per marking rule. Each traced packet wakes the reader for a few events (a rule's, a chain's policy): under a flood
    // that is Tracer's main cost, and one traced packet per flow and interval names its rule.
    private const int TracedPerSecond = 50;

    /// <summary>This process's PID namespace: a pid alone repeats across containers that do not share the host's.</summary>
    private static readonly string PidNamespace = PidNamespaceOf("self");

    /// <summary>This process's table: <c>tracer_PID_PIDNS</c>.</summary>
    public static readonly string TableName = $"{TablePrefix}_{Environment.ProcessId}_{PidNamespace}";

    /// <summary>The inode number of a process's PID namespace ("pid:[4026531836]").</summary>
    internal static string PidNamespaceOf(string process) =>
        new string(File.ResolveLinkTarget($"/proc/{process}/ns/pid", returnFinalTarget: false)?.Name.Where(char.IsAsciiDigit).ToArray() ?? []);

    /// <summary>Priority of Tracer's chains; the sentinels leave it alone as Tracer's own.</summary>
    public const int ChainPriority = int.MinValue + 2;
    private static readonly Dictionary<NfProto, string> Families = new()
    {
        [NfProto.NFPROTO_INET] = "inet", [NfProto.NFPROTO_IPV4] = "ip", [NfProto.NFPROTO_IPV6] = "ip6",
        [NfProto.NFPROTO_ARP] = "arp", [NfProto.NFPROTO_BRIDGE] = "bridge", [NfProto.NFPROTO_NETDEV] = "netdev",
    };

    private readonly NftContext _nft;
    private readonly MnlSocketHandle _events;
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly Dictionary<FlowTuple, NftVerdict> _verdicts = [];
    // The kernel dumps a packet's headers once per chain; later events of the same trace id carry none.
    private readonly Dictionary<uint, FlowTuple> _flowsByTraceId = [];
    private readonly Dictionary<(string, string, string, ulong), string?> _ruleTexts = [];
    private readonly Lock _gate = new();
    private Thread? _reader;
    private GCHandle _self;
    private volatile bool _stopping;
    private HashSet<TraceMark> _marks = [];
    private bool? _ownedByKernel;

    private NftablesTrace(NftContext nft, MnlSocketHandle events)
    {
        _nft = nft;
        _events = events;
    }

    /// <summary>
    /// Subscribes to trace events in the calling thread's namespace (read once <see cref="Attach"/> starts the
    /// reader); nothing is marked yet. Removes the tables of Tracers that no longer run (possible only where tables
    /// cannot be owned).
    /// </summary>
    public static NftablesTrace Load()
    {
        var nft = NftContext.Open();
        MnlSocketHandle? events = null;
        try
        {
            events = OpenTraceEvents();
            RemoveStaleTables(nft);
            return new NftablesTrace(nft, events);
        }
        catch
        {
            events?.Dispose();
            nft.Dispose();
            throw;
        }
    }

    /// <summary>Starts reading the trace events, on a thread of its own.</summary>
    public void Attach()
    {
        _self = GCHandle.Alloc(this);
        _reader = new Thread(ReadEvents) { IsBackground = true, Name = "nftrace" };
        _reader.Start();
    }

    /// <summary>A netlink socket subscribed to nftables' trace events.</summary>
    private static MnlSocketHandle OpenTraceEvents()
    {
        var events = Proxy.mnl_socket_open(Mnl.NETLINK_NETFILTER);
        try
        {
            Proxy.mnl_socket_bind(events, 0, Mnl.MNL_SOCKET_AUTOPID);
            Proxy.mnl_socket_setsockopt(events, Mnl.NETLINK_ADD_MEMBERSHIP, Mnl.NFNLGRP_NFTRACE);
            var fd = Proxy.mnl_socket_get_fd(events);
            // Receives return within 100 ms without data, so the reader notices when to stop.
            Proxy.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, new timeval { tv_sec = 0, tv_usec = 100_000 });
            // Past rmem_max (needs CAP_NET_ADMIN): bursts of events must not overflow the receive buffer.
            Proxy.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, 8 << 20);
            return events;
        }
        catch
        {
            events.Dispose();
            throw;
        }
    }

    /// <summary>Whether an nftables table is a Tracer's (this process's or another's): tracer, tracer_PID or tracer_PID_PIDNS.</summary>
    public static bool IsTracerTable(string name) => Owner(name) is not null;

    /// <summary>The pid and PID namespace in a Tracer table's name ("" for either when the name has none).</summary>
    private static (string Pid, string PidNamespace)? Owner(string name)
    {
        var parts = name.Split('_');
        return parts[0] != TablePrefix || parts.Length > 3 || parts.Skip(1).Any(p => p.Length == 0 || !p.All(char.IsAsciiDigit))
            ? null
            : (parts.ElementAtOrDefault(1) ?? "", parts.ElementAtOrDefault(2) ?? "");
    }

    /// <summary>Before 5.12 a table outlives its process: those of Tracers gone from this PID namespace are deleted.</summary>
    private static void RemoveStaleTables(NftContext nft)
    {
        foreach (var line in nft.Run("list tables inet").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = line.Trim().Split(' ').Last();
            // Another PID namespace's Tracer may live on, unseen from here; so may one whose pid is still taken.
            if (Owner(name) is not { } owner || (owner.PidNamespace.Length > 0 && owner.PidNamespace != PidNamespace) ||
                (owner.Pid.Length > 0 && Directory.Exists($"/proc/{owner.Pid}")))
                continue;
            try
            {
                nft.Run($"delete table inet {name}");
            }
            catch (NativeException)
            {
                // owned by a socket that is still open: not stale
            }
        }
    }

    /// <summary>Packets marked for tracing now.</summary>
    public IReadOnlySet<TraceMark> Marks => _marks;

    /// <summary>
    /// Marks exactly these packets from now on, in one transaction (no packet sees a half-made table); none:
    /// Tracer's table goes, and no packet pays for tracing.
    /// </summary>
    public void Mark(IReadOnlyCollection<TraceMark> marks)
    {
        if (_marks.SetEquals(marks))
            return;
        var commands = new List<string>();
        if (_marks.Count > 0)
            commands.Add($"delete table inet {TableName}");
        if (marks.Count > 0)
            commands.AddRange(TableContents(marks));
        var add = commands.FindIndex(c => c.StartsWith("add table", StringComparison.Ordinal));
        if (add >= 0 && _ownedByKernel != false)
        {
            try
            {
                commands[add] = $"add table inet {TableName} {{ flags owner; }}";
                _nft.Run(string.Join('\n', commands));
                (_ownedByKernel, _marks) = (true, [.. marks]);
                return;
            }
            catch (NativeException e) when (_ownedByKernel is null && e.Message.Contains("Invalid argument", StringComparison.Ordinal))
            {
                // No NFT_TABLE_F_OWNER (before 5.12): a plain table, deleted on exit.
                _ownedByKernel = false;
                commands[add] = $"add table inet {TableName}";
            }
        }
        _nft.Run(string.Join('\n', commands));
        _marks = [.. marks];
    }

    /// <summary>
    /// Tracer's table for these marks: per hook point a chain ahead of everyone else's that sets the trace bit on
    /// packets in the marks' sets — one set per family, side and shape (address; address . protocol; address .
    /// protocol . port).
    /// </summary>
    internal static List<string> TableContents(IReadOnlyCollection<TraceMark> marks)
    {
        var commands = new List<string> { $"add table inet {TableName}" };
        foreach (var byHook in marks.GroupBy(m => m.Hook).OrderBy(g => g.Key))
        {
            var chain = HookPoint.Name(byHook.Key).ToLowerInvariant();
            commands.Add($"add chain inet {TableName} {chain} {{ type filter hook {chain} priority {ChainPriority}; policy accept; }}");
            foreach (var shape in byHook.GroupBy(m => (m.IsIPv4, m.Source, Shape: m.Protocol == 0 ? 0 : m.Port == 0 ? 1 : 2)).OrderBy(g => g.Key))
            {
                var (ipv4, source, kind) = shape.Key;
                var set = $"{chain}_{(ipv4 ? "4" : "6")}{(source ? "s" : "d")}{kind}";
                var address = ipv4 ? "ipv4_addr" : "ipv6_addr";
                var match = $"{(ipv4 ? "ip" : "ip6")} {(source ? "saddr" : "daddr")}";
                var (type, selector, flags) = kind switch
                {
                    0 => (address, match, " flags interval;"),
                    1 => ($"{address} . inet_proto", $"{match} . meta l4proto", ""),
                    _ => ($"{address} . inet_proto . inet_service", $"{match} . meta l4proto . th dport", ""),
                };
                commands.Add($"add set inet {TableName} {set} {{ type {type};{flags} }}");
                commands.Add($"add rule inet {TableName} {chain} {selector} @{set} limit rate {TracedPerSecond}/second burst {TracedPerSecond} packets meta nftrace set 1");
                commands.Add($"add element inet {TableName} {set} {{ {string.Join(", ", shape.Select(Element).Distinct())} }}");
            }
        }
        return commands;
    }

    private static string Element(TraceMark mark)
    {
        var full = mark.Network.PrefixLength == (mark.IsIPv4 ? 32 : 128);
        var address = full ? mark.Network.BaseAddress.ToString() : mark.Network.ToString();
        return mark.Protocol == 0 ? address
            : mark.Port == 0 ? $"{address} . {mark.Protocol}"
            : $"{address} . {mark.Protocol} . {mark.Port}";
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
        while (rounds.Any(r => Volatile.Read(ref r.Trace._rounds) < r.Round + 2 && r.Trace._reader?.IsAlive == true) &&
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
            var listing = _nft.Run($"list chain {verdict.Family} {verdict.Table} {verdict.Chain}");
            var marker = $"# handle {handle}";
            text = listing.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.EndsWith(marker, StringComparison.Ordinal))?[..^marker.Length].Trim();
        }
        catch (NativeException)
        {
            // The chain is gone: the rule text is unknown, the rest of the verdict still holds.
        }
        return _ruleTexts[key] = text;
    }

    /// <summary>What nft prints for a listing command in this namespace ("list map ip kube-proxy no-endpoint-services"); null when it fails.</summary>
    public string? List(string command)
    {
        try
        {
            return _nft.Run(command);
        }
        catch (NativeException)
        {
            return null; // gone, or never there
        }
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
        if (NftnlTrace.Parse(message) is not { } trace)
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
        var code = policy ? trace.Policy : trace.Verdict;
        // A queue verdict carries its queue number above NF_VERDICT_QBITS (nft's "queue", iptables' NFQUEUE alike).
        var queued = !policy && (code & Nftnl.NF_VERDICT_MASK) == Nftnl.NF_QUEUE;
        if ((code != Nftnl.NF_DROP && !queued) || !_flowsByTraceId.TryGetValue(trace.Id, out var flow))
            return;
        var verdict = new NftVerdict(Families.GetValueOrDefault((NfProto)trace.Family, "inet"), trace.Table, trace.Chain, trace.RuleHandle, policy, flow,
                                     queued ? (ushort)((uint)code >> Nftnl.NF_VERDICT_QBITS) : null);
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
        if ((IpProto)protocol is IpProto.IPPROTO_TCP or IpProto.IPPROTO_UDP && transport.Length >= 4)
        {
            first = BinaryPrimitives.ReadUInt16BigEndian(transport);
            second = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
        }
        else if (DropFlow.IsIcmpProtocol(protocol) && transport.Length >= 2)
        {
            first = transport[0];
            second = transport[1];
        }
        return new FlowTuple(source, destination, protocol, first, second);
    }

    public void Dispose()
    {
        _stopping = true;
        _reader?.Join();
        _events.Dispose();
        if (_marks.Count > 0 && _ownedByKernel != true)
        {
            try
            {
                _nft.Run($"delete table inet {TableName}");
            }
            catch (NativeException)
            {
                // already gone (a flush of the ruleset, or the namespace itself)
            }
            _marks = [];
        }
        _nft.Dispose(); // closes the socket that owns the table: the kernel deletes it
        if (_self.IsAllocated)
            _self.Free();
    }
}
