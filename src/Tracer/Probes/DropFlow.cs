using System.Net;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// A decoded <c>struct drop_key</c>: one flow, the place it was dropped, and why. An aggregate
/// (<see cref="Scope"/> destination or source) stands for every peer and port of one watched address
/// whose flows did not each get a bucket (a scan, a flood from many peers): its other address and its
/// ports are null and 0.
/// </summary>
internal sealed record DropFlow(
    uint Netns,
    uint Ifindex,
    IPAddress? Source,
    IPAddress? Destination,
    ushort L3Protocol,
    byte L4Protocol,
    ushort SourcePort,
    ushort DestinationPort,
    uint Reason,
    ulong Location,
    byte NetfilterHook = 0,
    byte NetfilterFamily = 0,
    ushort SentinelsPassed = 0,
    tracer_key_scope Scope = tracer_key_scope.TRACER_SCOPE_FLOW)
{
    /// <summary>Every peer and port of one watched address, not one flow.</summary>
    public bool IsAggregate => Scope != tracer_key_scope.TRACER_SCOPE_FLOW;

    /// <summary>
    /// What an aggregate of this flow would be: its watched address (<paramref name="sourceWatched"/>: the source), with
    /// everything else the drop probe keys on but the peer and ports. An aggregate is its own.
    /// </summary>
    public DropFlow Coarse(bool sourceWatched) => IsAggregate ? this : sourceWatched
        ? this with { Destination = null, SourcePort = 0, DestinationPort = 0, Scope = tracer_key_scope.TRACER_SCOPE_SOURCE }
        : this with { Source = null, SourcePort = 0, DestinationPort = 0, Scope = tracer_key_scope.TRACER_SCOPE_DESTINATION };

    /// <summary>The netfilter hook point the drop happened at, when the sentinels saw the packet there.</summary>
    public HookPoint? HookPoint => NetfilterHook == 0 ? null : new HookPoint(Netns, NetfilterFamily, (byte)(NetfilterHook - 1));

    public bool IsIP => IsIPProtocol(L3Protocol);

    public bool IsIPv6 => (EtherType)L3Protocol == EtherType.ETH_P_IPV6;

    private static bool IsIPProtocol(ushort l3Protocol) => (EtherType)l3Protocol is EtherType.ETH_P_IP or EtherType.ETH_P_IPV6;

    /// <summary>tcp, udp, icmp, icmpv6, or the IP protocol number; null when not IP.</summary>
    public string? ProtocolName => !IsIP ? null : (IpProto)L4Protocol switch
    {
        IpProto.IPPROTO_TCP => "tcp",
        IpProto.IPPROTO_UDP => "udp",
        IpProto.IPPROTO_ICMP => "icmp",
        IpProto.IPPROTO_ICMPV6 => "icmpv6",
        _ => L4Protocol.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>True when the ports carry ICMP type and code instead.</summary>
    public bool IsIcmp => IsIcmpProtocol(L4Protocol);

    /// <summary>ICMP or ICMPv6: a protocol whose "ports" are type and code.</summary>
    public static bool IsIcmpProtocol(byte l4Protocol) => (IpProto)l4Protocol is IpProto.IPPROTO_ICMP or IpProto.IPPROTO_ICMPV6;

    public static unsafe DropFlow From(in drop_key key)
    {
        var isIP = IsIPProtocol(key.l3_proto);
        var scope = (tracer_key_scope)key.scope;
        fixed (byte* source = key.saddr)
        fixed (byte* destination = key.daddr)
        {
            return new DropFlow(
                key.netns,
                key.ifindex,
                isIP && scope != tracer_key_scope.TRACER_SCOPE_DESTINATION ? Address(new ReadOnlySpan<byte>(source, DropEvent.TRACER_ADDR_LEN)) : null,
                isIP && scope != tracer_key_scope.TRACER_SCOPE_SOURCE ? Address(new ReadOnlySpan<byte>(destination, DropEvent.TRACER_ADDR_LEN)) : null,
                key.l3_proto,
                key.l4_proto,
                key.sport,
                key.dport,
                key.reason,
                key.location,
                key.nf_hook,
                key.nf_pf,
                key.nf_passed,
                scope);
        }
    }

    /// <summary>Whether the source or the destination is in <paramref name="network"/> (addresses are already plain IPv4 or IPv6).</summary>
    public bool Touches(IPNetwork network) =>
        (Source is not null && network.Contains(Source)) || (Destination is not null && network.Contains(Destination));

    private static IPAddress Address(ReadOnlySpan<byte> bytes)
    {
        var address = new IPAddress(bytes);
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }
}

/// <summary>
/// Facts of an interval keyed by flow, found for a flow that has none of its own through its aggregate: a flow
/// whose coarse key's sample budget was spent, or an aggregate, shares what another flow of that address showed.
/// </summary>
internal static class FlowIndex
{
    public static void Add<T>(Dictionary<DropFlow, T> index, DropFlow flow, T value)
    {
        index.TryAdd(flow, value);
        index.TryAdd(flow.Coarse(sourceWatched: false), value);
        index.TryAdd(flow.Coarse(sourceWatched: true), value);
    }

    public static bool TryFind<T>(IReadOnlyDictionary<DropFlow, T> index, DropFlow flow, out T value) =>
        index.TryGetValue(flow, out value!) ||
        index.TryGetValue(flow.Coarse(sourceWatched: false), out value!) ||
        index.TryGetValue(flow.Coarse(sourceWatched: true), out value!);
}

/// <summary>How many packets of a flow were dropped during one interval.</summary>
internal sealed record DropCount(DropFlow Flow, ulong Packets, ulong Bytes, ulong FirstNs, ulong LastNs);

/// <summary>Growth of the kernel-side counters (enum tracer_counter) over one interval.</summary>
/// <remarks>
/// <see cref="MissedRuns"/> are drops the kernel did not let the program see at all (it was already
/// running on that CPU when a nested drop happened): the one loss Tracer cannot avoid, so it is reported.
/// <see cref="OverflowBusyPackets"/> are the overflow drops whose bucket the map refused because its lock was
/// taken on that CPU (an update nested in another), not because it was full.
/// </remarks>
internal readonly record struct ProbeCounters(ulong SamplesLost, ulong OverflowPackets, ulong OverflowBytes, ulong StacksLost, ulong MissedRuns,
                                             ulong OverflowBusyPackets)
{
    public static ProbeCounters operator +(ProbeCounters a, ProbeCounters b) => new(
        a.SamplesLost + b.SamplesLost, a.OverflowPackets + b.OverflowPackets,
        a.OverflowBytes + b.OverflowBytes, a.StacksLost + b.StacksLost, a.MissedRuns + b.MissedRuns,
        a.OverflowBusyPackets + b.OverflowBusyPackets);
}

/// <summary>Everything the kernel counted since the previous drain.</summary>
internal sealed record DropInterval(IReadOnlyList<DropCount> Counts, ProbeCounters Counters, IReadOnlyList<drop_sample> Samples)
{
    /// <summary>The SELinux denial that came just before a flow's sampled drop, per flow, where SELinux is watched.</summary>
    public IReadOnlyDictionary<DropFlow, SelinuxDenial> SelinuxDenials { get; init; } = NoDenials;

    private static readonly Dictionary<DropFlow, SelinuxDenial> NoDenials = [];
}
