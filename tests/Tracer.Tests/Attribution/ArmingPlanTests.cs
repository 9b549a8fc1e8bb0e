using System.Net;
using Tracer.Attribution;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>Where and for how long Tracer arms, and what it remembers, as pure decisions (no kernel needed).</summary>
[UnitTest]
public sealed class ArmingPlanTests
{
    private const uint Netns = 4026531840;
    private static readonly HookPoint LocalOut = new(Netns, HookPoint.IPv4, (byte)nf_inet_hooks.NF_INET_LOCAL_OUT);
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly IPAddress Pod = IPAddress.Parse("10.0.0.5");

    private static DropFlow Udp(ushort port, ushort sourcePort = 40000) =>
        new(Netns, 0, IPAddress.Parse("192.0.2.10"), Pod, (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, sourcePort, port, 12, 0xffffffff81100000);

    [Fact]
    public void AnNftablesDropMarksItsDestinationProtocolAndPortAtItsHookPoint_WithoutObservers()
    {
        var plan = new ArmingPlan();

        Assert.True(plan.Add([new ArmingRequest(LocalOut, Udp(8885), NftablesOnly: true)], T0));

        var mark = Assert.Single(plan.MarksIn(Netns));
        Assert.Equal(new TraceMark(LocalOut.Hook, new IPNetwork(Pod, 32), Source: false, Protocol: (byte)IpProto.IPPROTO_UDP, Port: 8885), mark);
        Assert.Empty(plan.ObservedPoints);
        Assert.Empty(plan.MarksIn(Netns + 1));
    }

    [Fact]
    public void ManyPortsOfOneDestinationBecomeOneMark_AndAnAggregateMarksItsAddress()
    {
        var plan = new ArmingPlan();
        plan.Add(Enumerable.Range(1, ArmingPlan.PortsPerDestination + 1).Select(p => new ArmingRequest(LocalOut, Udp((ushort)p), true)), T0);

        Assert.Equal(new TraceMark(LocalOut.Hook, new IPNetwork(Pod, 32), Protocol: (byte)IpProto.IPPROTO_UDP), Assert.Single(plan.MarksIn(Netns)));
        Assert.False(plan.Add([new ArmingRequest(LocalOut, Udp(9999), true)], T0)); // already covered

        var scanned = Udp(1).Coarse(sourceWatched: true);
        var other = new ArmingPlan();
        other.Add([new ArmingRequest(LocalOut, scanned, true)], T0);
        Assert.Equal(new TraceMark(LocalOut.Hook, new IPNetwork(IPAddress.Parse("192.0.2.10"), 32), Source: true, Protocol: (byte)IpProto.IPPROTO_UDP), Assert.Single(other.MarksIn(Netns)));
    }

    [Fact]
    public void ADropNftablesDidNotFreeArmsObservers_AndAPointIsDisarmedAfterItsLastUnexplainedDrop()
    {
        var plan = new ArmingPlan();
        plan.Add([new ArmingRequest(LocalOut, Udp(8885), NftablesOnly: false)], T0);
        Assert.Equal(LocalOut, Assert.Single(plan.ObservedPoints));

        Assert.Empty(plan.Expire(T0 + ArmingPlan.DisarmAfter - TimeSpan.FromSeconds(1)));
        plan.Add([new ArmingRequest(LocalOut, Udp(8885), false)], T0 + TimeSpan.FromSeconds(5)); // drops went on, unexplained
        Assert.Empty(plan.Expire(T0 + ArmingPlan.DisarmAfter));
        Assert.Equal(LocalOut, Assert.Single(plan.Expire(T0 + TimeSpan.FromSeconds(5) + ArmingPlan.DisarmAfter)));
        Assert.Empty(plan.ObservedPoints);
        Assert.Empty(plan.MarksIn(Netns));
    }

    [Fact]
    public void APointArmingCannotExplainIsDisarmedAfterAMinuteAndLeftAloneForAWhile()
    {
        var plan = new ArmingPlan();
        var unexplained = new ArmingRequest(LocalOut, Udp(8885), NftablesOnly: false);
        for (var second = 0; second <= 60; second++)
            plan.Add([unexplained], T0.AddSeconds(second)); // every interval: still unexplained

        Assert.Equal(LocalOut, Assert.Single(plan.Expire(T0 + ArmingPlan.GiveUpAfter + ArmingPlan.DisarmAfter)));
        Assert.False(plan.Add([unexplained], T0.AddMinutes(2)));
        Assert.Empty(plan.ObservedPoints);
        Assert.True(plan.Add([unexplained], T0 + ArmingPlan.GiveUpAfter + CulpritMemory.RememberFor)); // tried again later
    }

    private static Culprit Rule(ulong handle, CulpritConfidence confidence = CulpritConfidence.Exact) => new()
    {
        Kind = CulpritKind.NftablesRule, Confidence = confidence, Table = "edr", Chain = "out", Handle = handle,
        Summary = $"rule {handle}", Evidence = ["reason NETFILTER_DROP", "freed at nft_do_chain+0x46f", $"nftrace: verdict drop by rule handle {handle}"],
    };

    [Fact]
    public void ARememberedCulpritNamesTheFlowsLaterDropsFromAnyClientPort_AndItsAggregateWhileItIsTheOnlyOne()
    {
        var memory = new CulpritMemory();
        memory.Remember(Udp(8885, sourcePort: 40000), Rule(2), T0);

        var sameFlow = memory.Recall(Udp(8885, sourcePort: 51000), ["reason NETFILTER_DROP"]);
        Assert.Equal(2UL, sameFlow!.Handle);
        Assert.Equal(CulpritConfidence.Exact, sameFlow.Confidence);
        Assert.Contains(sameFlow.Evidence, e => e.StartsWith("named at 12:00:00 (exact) for this flow: nftrace: verdict drop by rule handle 2", StringComparison.Ordinal));

        var otherPort = memory.Recall(Udp(7000), []);
        Assert.Equal(2UL, otherPort!.Handle);
        Assert.Equal(CulpritConfidence.Inferred, otherPort.Confidence); // only the aggregate vouches for it
        Assert.Equal(2UL, memory.Recall(Udp(7000).Coarse(sourceWatched: false), [])!.Handle);

        memory.Remember(Udp(9000), Rule(5), T0);
        Assert.Null(memory.Recall(Udp(7000), [])); // two rules drop this pod's UDP: the aggregate names neither
        Assert.Equal(5UL, memory.Recall(Udp(9000), [])!.Handle);

        memory.Expire(T0 + CulpritMemory.RememberFor + TimeSpan.FromSeconds(1));
        Assert.Null(memory.Recall(Udp(8885), []));
    }
}
