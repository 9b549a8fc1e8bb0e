using System.Net;
using Tracer.Attribution;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// An NFQUEUE drop's owner from a namespace's queue bindings and netlink sockets (given here as 6.18 wrote them with a
/// listener on queue 100) and the processes holding the socket (given: the /proc walk is tested on its own).
/// </summary>
[UnitTest]
public sealed class NfQueueOwnersTests
{
    private const uint Netns = 4026532000;
    private const string Queues = "  100   7922     0 1     0     0     0        3  1\n";
    private const string Netlink = """
        sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
        000000003375f32b 12  0          00000000 0        0        0     2        0        1723030 
        000000006d10fb8d 12  7922       00000000 0        0        0     2        0        1723677 

        """;

    private static readonly DropFlow Flow = new(
        Netns, 0, IPAddress.Parse("10.0.0.2"), IPAddress.Parse("10.0.0.3"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, 40000, 8885, 12, 0);

    private static Culprit Queued(ushort queue) => new()
    {
        Kind = CulpritKind.NetfilterHook, Confidence = CulpritConfidence.Exact, Summary = "dropped", Queue = queue,
        Table = "filter", Chain = "FORWARD", Handle = 4,
    };

    private static NodeQueries Node(NamespaceQueueFiles? files) => new()
    {
        NfQueueFiles = netns => netns == Netns ? files : null,
        SocketHolders = inode => inode == 1723677 ? [4242] : [],
        Process = pid => new OwnerProcess(pid, "kube-network-po", "/bin/kube-network-policies", "/bin/kube-network-policies --nfqueue-id=100",
                                          "/kubepods.slice/kubepods-pod0b6e3c55_8f0a_4e0e_b4f4_7d0c2a9e6a01.slice"),
        PackageOwning = (_, _) => null,
        SeesHostFiles = _ => false,
    };

    [Fact]
    public void TheQueuesListenerIsTheOwner()
    {
        var owner = CulpritOwners.Own(Queued(100), Flow, Node(new NamespaceQueueFiles(Queues, Netlink)).ForInterval()).Owner!;

        Assert.Equal(OwnerKind.Process, owner.Kind);
        Assert.Equal("/bin/kube-network-policies", owner.Name);
        Assert.Equal(4242, Assert.Single(owner.Processes!).Pid);
        Assert.StartsWith("NFQUEUE 100's verdicts come from process kube-network-po (pid 4242, /bin/kube-network-policies)", owner.Summary);
        Assert.Contains(owner.Evidence, e => e.Contains("port id 7922", StringComparison.Ordinal) && e.Contains("inode 1723677", StringComparison.Ordinal));
    }

    [Fact]
    public void TheSessionsPodKeepsWhatTheProcessesDo()
    {
        var owner = CulpritOwners.Own(Queued(100), Flow, Node(new NamespaceQueueFiles(Queues, Netlink)).ForInterval()).Owner!;

        var completed = ProcessOwners.WithPod(owner, "kube-system/kube-network-policies-x7k2p", "kube-network-policies", "DaemonSet kube-system/kube-network-policies", "test");

        Assert.StartsWith("NFQUEUE 100's verdicts come from process kube-network-po (pid 4242, /bin/kube-network-policies) in container kube-network-policies " +
                          "of pod kube-system/kube-network-policies-x7k2p (DaemonSet kube-system/kube-network-policies)", completed.Summary);
    }

    [Fact]
    public void AQueueNobodyListensOnHasNoOwner() =>
        Assert.Null(CulpritOwners.Own(Queued(101), Flow, Node(new NamespaceQueueFiles(Queues, Netlink)).ForInterval()).Owner);

    [Fact]
    public void ANamespaceTracerCannotReadHasNoOwner() =>
        Assert.Null(CulpritOwners.Own(Queued(100), Flow, Node(null).ForInterval()).Owner);

    [Fact]
    public void AHookWithoutQueueIsNotAsked() =>
        Assert.Null(CulpritOwners.Own(Queued(100) with { Queue = null }, Flow, Node(new NamespaceQueueFiles(Queues, Netlink)).ForInterval()).Owner);
}
