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

        Assert.All(ArmedAlways(), culprit => AssertQueued(culprit, listener));
    }

    [Fact]
    public void AQueueWithoutListenerSaysSoAndHasNoOwner()
    {
        Assert.All(ArmedAlways(), culprit => AssertQueued(culprit, listener: null));
    }

    /// <summary>
    /// Armed on demand (the default). A listener's verdict frees the packet in the listener's own sendmsg, and a queue
    /// without listener in nf_queue, which carries no drop reason and so no stack: no hook point shows. The first drops
    /// must arm nftables' trace for their flow where its packets enter netfilter, and the later ones be named by the
    /// queue (and the listener).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OnDemandTheFirstDropsArmTheTraceWhereTheFlowEntersNetfilter_AndTheLaterOnesNameTheQueue(bool listening)
    {
        using var listener = listening ? NfQueueConsumer.Start(_network.NodeNamespace, Queue) : null;

        var (marking, later) = OnDemand();

        Assert.Contains($"{_server.IPv4} . udp . {Port}", marking); // that flow only
        Assert.Contains("hook prerouting", marking);
        Assert.All(later, culprit => AssertQueued(culprit, listener));
    }

    /// <summary>A culprit that names NFQUEUE <see cref="Queue"/>, its iptables-nft rule and its listener (none: no owner).</summary>
    private static void AssertQueued(JsonElement culprit, NfQueueConsumer? listener)
    {
        Assert.Equal("netfilter-hook", culprit.Str("kind"));
        Assert.Equal("exact", culprit.Str("confidence"));
        Assert.Contains(culprit.GetProperty("evidence").EnumerateArray(), e => e.GetString() == $"nftrace: verdict queue {Queue} by rule handle {culprit.Num("handle")} of chain ip filter FORWARD");
        Assert.Equal(Queue, culprit.Num("queue"));
        if (listener is null)
        {
            Assert.Contains($"NFQUEUE {Queue} has no listener", culprit.Str("summary"));
            Assert.False(culprit.TryGetProperty("owner", out _));
            return;
        }
        Assert.Contains($"by the user-space verdict of NFQUEUE {Queue}", culprit.Str("summary"));
        var owner = culprit.GetProperty("owner");
        Assert.Equal("process", owner.Str("kind"));
        Assert.Equal(NfQueueConsumer.Path, owner.Str("name"));
        var process = Assert.Single(owner.GetProperty("processes").EnumerateArray());
        Assert.Equal(listener.Pid, process.Num("pid"));
        Assert.Equal(NfQueueConsumer.Path, process.Str("exe"));
        Assert.StartsWith($"NFQUEUE {Queue}'s verdicts come from process ", owner.Str("summary"));
    }

    private bool Flow(JsonElement l) => l.Str("dst") == _server.IPv4.ToString() && l.Num("dport") == Port;

    private void Send() => CalicoNetwork.SendUdp(_client.Namespace, _server.IPv4, Port, Packets);

    /// <summary>The culprits of the client's drops to the server's port, traced with every observer armed; they must count every packet.</summary>
    private List<JsonElement> ArmedAlways()
    {
        var drops = TraceRun.Lines(_network.NodeNamespace, Send, Flow, Packets, "--arm", "always").Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        return [.. drops.Select(l => l.Culprit())];
    }

    /// <summary>
    /// Traced on demand: the first drops arm Tracer's marking (returned as nft lists it), the next ones are sent once it is
    /// there; every packet counted, the culprits of those next drops returned.
    /// </summary>
    private (string Marking, List<JsonElement> Later) OnDemand()
    {
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");
        string Marking() => Shell.Run("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "table", "inet", tracer.NftablesTable).Stdout;
        Send();
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        Poll.Until(() => Marking().Contains(_server.IPv4.ToString(), StringComparison.Ordinal), TimeSpan.FromSeconds(5), () => $"nothing marked: {tracer.Stderr}");
        var marking = Marking();
        var first = tracer.JsonLines().Count(Flow);
        Send();
        tracer.WaitForDrops(Flow, 2 * Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());
        var drops = tracer.JsonLines().Where(Flow).ToList();
        Assert.Equal(2 * Packets, drops.Sum(l => l.Num("count")));
        return (marking, [.. drops.Skip(first).Select(l => l.Culprit())]);
    }
}
