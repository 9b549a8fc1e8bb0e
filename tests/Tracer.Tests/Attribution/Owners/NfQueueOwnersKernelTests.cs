using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// A drop decided in user space, on the real kernel: an iptables-nft rule in the node namespace of a Calico-style
/// network hands a pod's traffic to NFQUEUE 100 (the way kube-network-policies hands it over), and a real listener
/// (tests/tools/nfqueue_drop) answers NF_DROP; <c>tracer trace --output json</c> must name the queue and the listener
/// process. Without a listener (and without bypass) the kernel drops it itself: the culprit must say nobody listens.
/// </summary>
[KernelTest]
public sealed class NfQueueOwnersKernelTests : IDisposable
{
    private const int Packets = 20;
    private const int Port = 8885;
    private const int Queue = 100;
    private readonly CalicoNetwork _network = new();
    private readonly Pod _client;
    private readonly Pod _server;

    public NfQueueOwnersKernelTests()
    {
        _client = _network.AddPod();
        _server = _network.AddPod();
        Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "iptables-nft", "-A", "FORWARD", "-d", _server.IPv4.ToString(), "-p", "udp",
                    "--dport", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "NFQUEUE", "--queue-num", Queue.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Dispose() => _network.Dispose();

    [Fact]
    public void TheListenersDropVerdictNamesTheQueueAndTheListenerProcess()
    {
        using var listener = NfQueueConsumer.Start(_network.NodeNamespace, Queue);

        var culprits = Culprits();

        Assert.All(culprits, culprit =>
        {
            Assert.Equal("netfilter-hook", culprit.Str("kind"));
            Assert.Contains(culprit.GetProperty("evidence").EnumerateArray(), e => e.GetString() == $"nftrace: verdict queue {Queue} by rule handle {culprit.Num("handle")} of chain ip filter FORWARD");
            Assert.Equal(Queue, culprit.Num("queue"));
            Assert.Contains($"by the user-space verdict of NFQUEUE {Queue}", culprit.Str("summary"));
            var owner = culprit.GetProperty("owner");
            Assert.Equal("process", owner.Str("kind"));
            Assert.Equal(NfQueueConsumer.Path, owner.Str("name"));
            var process = Assert.Single(owner.GetProperty("processes").EnumerateArray());
            Assert.Equal(listener.Pid, process.Num("pid"));
            Assert.Equal(NfQueueConsumer.Path, process.Str("exe"));
            Assert.StartsWith($"NFQUEUE {Queue}'s verdicts come from process ", owner.Str("summary"));
        });
    }

    [Fact]
    public void AQueueWithoutListenerSaysSoAndHasNoOwner()
    {
        var culprits = Culprits();

        Assert.All(culprits, culprit =>
        {
            Assert.Equal("netfilter-hook", culprit.Str("kind"));
            Assert.Contains(culprit.GetProperty("evidence").EnumerateArray(), e => e.GetString() == $"nftrace: verdict queue {Queue} by rule handle {culprit.Num("handle")} of chain ip filter FORWARD");
            Assert.Equal(Queue, culprit.Num("queue"));
            Assert.Contains($"NFQUEUE {Queue} has no listener", culprit.Str("summary"));
            Assert.False(culprit.TryGetProperty("owner", out _));
        });
    }

    /// <summary>The culprits of the client's drops to the server's port, traced with every observer armed; they must count every packet.</summary>
    private List<JsonElement> Culprits()
    {
        bool Flow(JsonElement l) => l.Str("dst") == _server.IPv4.ToString() && l.Num("dport") == Port;
        var drops = TraceRun.Lines(_network.NodeNamespace, () => CalicoNetwork.SendUdp(_client.Namespace, _server.IPv4, Port, Packets), Flow, Packets,
                                   "--arm", "always").Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        return [.. drops.Select(l => l.Culprit())];
    }
}
