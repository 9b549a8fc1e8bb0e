using System.Net;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Tracer.Daemon;
using Tracer.Discovery;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Daemon;

/// <summary>
/// What the daemon would write on pods, without an API (nothing is sent: <see cref="PodEvents.Due"/> is what the
/// sending loop takes each second): one Event per pod and culprit, the node's token bucket, counts kept while waiting.
/// </summary>
[UnitTest]
public sealed class PodEventsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 3, 0, 0, TimeSpan.Zero);
    private static readonly Culprit Edr = new() { Kind = CulpritKind.BpfProgram, Summary = "BPF program edr", Confidence = CulpritConfidence.Exact, ProgramName = "edr", ProgramId = 7 };
    private static readonly Culprit Rule = new()
    {
        Kind = CulpritKind.NftablesRule, Summary = "nftables rule", Confidence = CulpritConfidence.Exact, Family = "inet", Table = "t", Chain = "c", Handle = 3,
    };

    private static PodEvents Events() =>
        new(new Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }), "node-1", NullLogger.Instance); // never called here

    private static IPAddress Address(int i) => IPAddress.Parse($"10.244.{i / 250 + 1}.{i % 250 + 2}");

    private static PodSnapshot Pods(int count) => new(
        [.. Enumerable.Range(0, count).Select(i => new LocalPod(new IPNetwork(Address(i), 32), $"cali{i}",
                                                                new PodIdentity("shop", $"web-{i}", $"uid-{i}", new Dictionary<string, string>())))],
        "kubernetes");

    private static DropRecord Drop(int pod, ulong count, Culprit culprit) => new(T0, T0,
        new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), Address(pod), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_TCP, 40000, 80, 7, 0),
        "NETFILTER_DROP", "nf_hook_slow", count, count * 60, null, culprit);

    [Fact]
    public void OneEventPerPodAndCulprit_ItsCountThePackets_UpdatedNotDuplicated()
    {
        using var events = Events();
        var pods = Pods(1);
        events.Write([Drop(0, 3, Edr), Drop(0, 1, Rule)], pods, T0);
        var first = events.Due(T0);
        Assert.Equal(2, first.Count);
        var edr = Assert.Single(first, d => d.Body.Message.Contains("BPF program edr", StringComparison.Ordinal)).Body;
        Assert.Equal((3, "Warning", "PacketsDropped", "web-0", "uid-0"), (edr.Count, edr.Type, edr.Reason, edr.InvolvedObject.Name, edr.InvolvedObject.Uid));
        Assert.StartsWith("3 packets to this pod dropped by BPF program edr. Next: Find who loaded BPF program edr", edr.Message);

        events.Write([Drop(0, 4, Edr)], pods, T0.AddSeconds(1));
        Assert.Empty(events.Due(T0.AddSeconds(1))); // updated at most every 10 s
        var update = Assert.Single(events.Due(T0 + PodEvents.UpdateEvery));
        Assert.Equal((edr.Metadata.Name, 7), (update.Body.Metadata.Name, update.Body.Count));
        Assert.Empty(events.Due(T0 + PodEvents.UpdateEvery * 3)); // nothing new: nothing written
    }

    [Fact]
    public void TheNodesWritesTakeTokens_AndAnEventThatWaitsKeepsItsCount()
    {
        using var events = Events();
        var pods = Pods(PodEvents.Burst + 5);
        events.Write([.. Enumerable.Range(0, PodEvents.Burst + 5).Select(i => Drop(i, 1, Edr))], pods, T0);
        Assert.Equal(PodEvents.Burst, events.Due(T0).Count);
        Assert.Empty(events.Due(T0.AddSeconds(1)));
        events.Write([Drop(PodEvents.Burst + 4, 9, Edr)], pods, T0.AddSeconds(2));
        var waited = Enumerable.Range(1, 5).SelectMany(i => events.Due(T0 + PodEvents.Refill * i)).ToList();
        Assert.Equal(5, waited.Count); // one per refill
        Assert.Equal(10, waited.Single(w => w.Body.InvolvedObject.Name == $"web-{PodEvents.Burst + 4}").Body.Count);
    }

    [Fact]
    public void EventNamesAreStableAndValid_MessagesBounded()
    {
        Assert.Equal(PodEvents.EventName("web-0", "bpf:edr"), PodEvents.EventName("web-0", "bpf:edr"));
        Assert.NotEqual(PodEvents.EventName("web-0", "bpf:edr"), PodEvents.EventName("web-0", "bpf:other"));
        Assert.True(PodEvents.EventName(new string('a', 253), "bpf:edr").Length <= 253);
        var huge = Edr with { Summary = new string('x', 5000) };
        Assert.Equal(1024, PodEvents.Message(huge, null, "destination", 1).Length);
    }

    [Fact]
    public void TheMessageNamesTheCulpritsOwner_AndTheNextStepActsOnIt()
    {
        var owned = Edr with
        {
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.KernelModule, Name = "edr_agent", Confidence = CulpritConfidence.Exact,
                Summary = "a third-party kernel module (edr_agent 7.1.3), not part of the kernel", Package = new OwnerPackage("dpkg", "edr-agent", "7.1.3"),
            },
        };
        var message = PodEvents.Message(owned, null, "destination", 12);
        Assert.Contains("owner: a third-party kernel module (edr_agent 7.1.3)", message);
        Assert.Contains("the vendor of package edr-agent", message);
    }
}
