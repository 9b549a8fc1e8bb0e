using System.Net;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>How much of the attribution machinery runs: only where drops need it (the default), or all of it from the start.</summary>
internal enum Arming
{
    OnDemand,
    Always,
}

/// <summary>
/// A netfilter drop at <paramref name="Point"/> that neither evidence nor memory explained: Tracer's
/// observers are wanted there. <paramref name="NftablesOnly"/>: nftables itself freed the packet, so its
/// trace names the rule, and no sentinel or verdict observer is needed.
/// </summary>
internal sealed record ArmingRequest(HookPoint Point, DropFlow Flow, bool NftablesOnly);

/// <summary>
/// Where Tracer's attribution machinery is armed, on demand: nftables' trace marking at the hook point of
/// unexplained netfilter drops, narrowed to the dropped packets' destination, protocol and port (address
/// and protocol where many ports are dropped), and — unless nftables itself dropped them — sentinels and
/// verdict observers at that hook point. A hook point is disarmed <see cref="DisarmAfter"/> after its last
/// unexplained drop. Pure bookkeeping: <see cref="AttributionPipeline"/> applies it.
/// </summary>
internal sealed class ArmingPlan
{
    public static readonly TimeSpan DisarmAfter = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A hook point whose drops arming has not explained for this long (no sentinel or observer can tell there, e.g.
    /// iptables-legacy on a kernel without them) is disarmed and left alone for <see cref="CulpritMemory.RememberFor"/>:
    /// packets there do not pay for machinery that does not help.
    /// </summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(1);

    /// <summary>Marks per hook point at most (an egress scan of many peers): past it, more of them are not traced.</summary>
    internal const int MaxMarksPerPoint = 64;

    /// <summary>More dropped ports than this for one destination and protocol: all its ports are marked.</summary>
    internal const int PortsPerDestination = 8;

    private sealed class ArmedPoint(DateTimeOffset since)
    {
        public readonly DateTimeOffset Since = since;
        public DateTimeOffset LastRequest;
        public bool Observers;
        public readonly HashSet<(IPAddress Address, bool Source, byte Protocol, ushort Port)> Packets = [];
    }

    private readonly Dictionary<HookPoint, ArmedPoint> _points = [];
    private readonly Dictionary<HookPoint, DateTimeOffset> _givenUp = [];

    /// <summary>Hook points where sentinels and verdict observers are wanted.</summary>
    public IEnumerable<HookPoint> ObservedPoints => _points.Where(p => p.Value.Observers).Select(p => p.Key);

    /// <summary>How many hook points are armed.</summary>
    public int Count => _points.Count;

    /// <summary>The namespaces where anything is armed.</summary>
    public IEnumerable<uint> Namespaces => _points.Keys.Select(p => p.Netns).Distinct();

    /// <summary>Arms for this interval's requests; true when what is armed changed.</summary>
    public bool Add(IEnumerable<ArmingRequest> requests, DateTimeOffset now)
    {
        var changed = false;
        foreach (var request in requests)
        {
            if (_givenUp.TryGetValue(request.Point, out var until) && now < until)
                continue;
            if (!_points.TryGetValue(request.Point, out var armed))
                _points[request.Point] = armed = new ArmedPoint(now);
            if (now - armed.Since >= GiveUpAfter)
            {
                _givenUp[request.Point] = now + CulpritMemory.RememberFor; // requests stop refreshing it: disarmed by Expire
                continue;
            }
            armed.LastRequest = now;
            if (!request.NftablesOnly && !armed.Observers)
                armed.Observers = changed = true;
            if (Packet(request.Flow) is { } packet)
                changed |= Narrow(armed.Packets, packet);
        }
        return changed;
    }

    /// <summary>Forgets a namespace that is gone.</summary>
    public void Forget(uint netns)
    {
        foreach (var point in _points.Keys.Concat(_givenUp.Keys).Where(p => p.Netns == netns).ToList())
        {
            _points.Remove(point);
            _givenUp.Remove(point);
        }
    }

    /// <summary>Disarms the hook points without an unexplained drop for <see cref="DisarmAfter"/>; returns them.</summary>
    public List<HookPoint> Expire(DateTimeOffset now)
    {
        var idle = _points.Where(p => now - p.Value.LastRequest >= DisarmAfter).Select(p => p.Key).ToList();
        foreach (var point in idle)
            _points.Remove(point);
        return idle;
    }

    /// <summary>What nftables' trace should mark in one namespace.</summary>
    public List<TraceMark> MarksIn(uint netns) =>
    [
        .. _points.Where(p => p.Key.Netns == netns).SelectMany(p => p.Value.Packets.Select(packet => new TraceMark(
            p.Key.Hook, new IPNetwork(packet.Address, packet.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128),
            packet.Source, packet.Protocol, packet.Port))),
    ];

    /// <summary>The packets a drop stands for: its destination, protocol and port; an aggregate's watched address and protocol.</summary>
    private static (IPAddress, bool, byte, ushort)? Packet(DropFlow flow) => flow switch
    {
        { IsIP: false } => null,
        { Destination: { } destination } => (destination, false, flow.L4Protocol, flow.IsAggregate || !HasPorts(flow) ? (ushort)0 : flow.DestinationPort),
        { Source: { } source } => (source, true, flow.L4Protocol, (ushort)0),
        _ => null,
    };

    private static bool HasPorts(DropFlow flow) => (IpProto)flow.L4Protocol is IpProto.IPPROTO_TCP or IpProto.IPPROTO_UDP or IpProto.IPPROTO_SCTP;

    /// <summary>Adds a packet to a hook point's marks; past <see cref="PortsPerDestination"/> ports, the destination's ports become one mark.</summary>
    private static bool Narrow(HashSet<(IPAddress Address, bool Source, byte Protocol, ushort Port)> packets, (IPAddress Address, bool Source, byte Protocol, ushort Port) packet)
    {
        var anyPort = packet with { Port = 0 };
        if (packets.Contains(anyPort) || packets.Count >= MaxMarksPerPoint || !packets.Add(packet))
            return false;
        var ports = packets.Where(p => p.Address.Equals(packet.Address) && p.Source == packet.Source && p.Protocol == packet.Protocol && p.Port != 0).ToList();
        if (packet.Port == 0 || ports.Count > PortsPerDestination)
        {
            packets.ExceptWith(ports);
            packets.Add(anyPort);
        }
        return true;
    }
}
