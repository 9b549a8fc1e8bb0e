using Tracer.Attribution;
using System.Net;
using Tracer.Discovery;
using Tracer.Records;
using Tracer.Sessions;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Sessions;

/// <summary>The session completes process owners with the pods the pod source knows: by container id, else by pod UID.</summary>
[UnitTest]
public sealed class PodOwnersTests
{
    private const string ContainerId = "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    private const string PodUid = "5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11";

    private static readonly PodIdentity Edr = new("security", "edr-agent-x7k2p", PodUid, new Dictionary<string, string>(), "DaemonSet", "edr-agent")
    {
        Containers = [new PodContainer("edr", ContainerId)],
    };

    private static readonly PodIdentity Web = new("shop", "web-5d8f7c9b4-x2x7q", "0b6e3c55-8f0a-4e0e-b4f4-7d0c2a9e6a01", new Dictionary<string, string>());

    // The EDR runs with the host's network: it has no address of its own, only an identity.
    private static readonly PodSnapshot Pods = new([new LocalPod(new IPNetwork(IPAddress.Parse("10.244.0.5"), 32), "cali1", Web)], "kubernetes", [Web, Edr]);

    /// <summary>A process owner as attribution makes it, of a process /proc would show with this container id and pod UID.</summary>
    private static CulpritOwner HeldBy(string? containerId, string? podUid) => ProcessOwners.Of([4242], "held by", [], new NodeQueries
    {
        Process = pid => new OwnerProcess(pid, "edr-agent", "/usr/sbin/edr-agent", null, "/some/cgroup") { ContainerId = containerId, PodUid = podUid },
        PackageOwning = (_, _) => null,
        SeesHostFiles = _ => true,
    }.ForInterval())!;

    private static DropRecord Record(CulpritOwner? owner) => new(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, "NETFILTER_DROP", null, 1, 64, null,
        new Culprit { Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Bracketed, Summary = "dropped", ProgramId = 1393, Owner = owner });

    [Fact]
    public void AHostNetworkPodIsFoundByItsContainerId_WithContainerAndWorkload()
    {
        var owner = PodOwners.Complete(HeldBy(ContainerId, PodUid), Pods);

        Assert.Equal(("security/edr-agent-x7k2p", "edr", "DaemonSet security/edr-agent"), (owner.Pod, owner.Container, owner.Workload));
        Assert.Contains("in container edr of pod security/edr-agent-x7k2p (DaemonSet security/edr-agent)", owner.Summary);
        Assert.Contains(owner.Evidence, e => e.Contains($"container id {ContainerId[..12]}", StringComparison.Ordinal));
    }

    [Fact]
    public void WithoutAContainerStatusThePodUidNamesThePod()
    {
        var owner = PodOwners.Complete(HeldBy("ffff" + ContainerId[4..], PodUid), Pods);

        Assert.Equal(("security/edr-agent-x7k2p", null, "DaemonSet security/edr-agent"), (owner.Pod, owner.Container, owner.Workload));
        Assert.Contains("in pod security/edr-agent-x7k2p (DaemonSet security/edr-agent)", owner.Summary);
    }

    [Fact]
    public void AProcessOfNoKnownPodIsLeftAsAttributionNamedIt()
    {
        var unknown = HeldBy(null, "0d0d0d0d-0000-4000-8000-000000000000");
        var host = HeldBy(null, null);

        Assert.Same(unknown, PodOwners.Complete(unknown, Pods));
        Assert.Same(host, PodOwners.Complete(host, Pods));
        Assert.Same(unknown, PodOwners.Complete(unknown, new PodSnapshot([], "routes")));
    }

    [Fact]
    public void RecordsWithoutProcessOwnersAreHandedOnAsTheyCame()
    {
        IReadOnlyList<DropRecord> records = [Record(null), Record(new CulpritOwner { Kind = OwnerKind.Service, Name = "shop/web:8080", Confidence = CulpritConfidence.Exact, Summary = "s" })];

        Assert.Same(records, PodOwners.Complete(records, Pods));
        var completed = PodOwners.Complete([records[0], Record(HeldBy(ContainerId, PodUid))], Pods);
        Assert.Same(records[0], completed[0]);
        Assert.Equal("security/edr-agent-x7k2p", completed[1].Culprit!.Owner!.Pod);
    }
}
