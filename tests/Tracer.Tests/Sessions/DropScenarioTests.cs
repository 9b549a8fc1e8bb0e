using System.Net;
using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Sessions;

/// <summary>
/// End to end on the real kernel: real namespaces, veths, nftables and out/tracer, with the exact
/// number of drops asserted. Tracer runs in the node namespace, as it runs in the host namespace of a node.
/// </summary>
[KernelTest]
public sealed class DropScenarioTests : IDisposable
{
    private const int Packets = 40;
    private readonly CalicoNetwork _network = new();
    private readonly Pod _pod;
    private readonly Pod _otherPod;

    public DropScenarioTests()
    {
        _pod = _network.AddPod();
        _otherPod = _network.AddPod();
    }

    public void Dispose() => _network.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NftablesDropOfNodeToPodTrafficIsCountedExactly(bool ipv6)
    {
        var (pod, node, match) = ipv6 ? (_pod.IPv6, _network.NodeIPv6, "ip6") : (_pod.IPv4, _network.NodeIPv4, "ip");
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 0; }}; " +
                     $"add rule inet edr out {match} daddr {pod} udp dport 8885 drop");

        bool Flow(JsonElement l) => l.Str("dst") == pod.ToString() && l.Num("dport") == 8885;
        // --verbose: logs go to stderr, so stdout must still parse as JSON lines, every one.
        var lines = Trace(() => CalicoNetwork.SendUdp(_network.NodeNamespace, pod, 8885, Packets), Flow, "--verbose");

        var drops = lines.Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        Assert.All(drops, l =>
        {
            Assert.Equal("NETFILTER_DROP", l.Str("reason"));
            Assert.StartsWith("nft_do_chain+0x", l.Str("location"));
            Assert.Equal(node.ToString(), l.Str("src"));
            Assert.Equal("udp", l.Str("protocol"));
            Assert.InRange(l.Num("sport"), 1024, 65535);
            Assert.Equal(CalicoNetwork.Inode(_network.NodeNamespace), (uint)l.Num("netns"));
            Assert.True(DateTimeOffset.Parse(l.Str("time")!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(-2));
        });
    }

    [Fact]
    public void StacksStartAtTheDropSiteAndShowTheHookPath()
    {
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 0; }}; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport 8885 drop");

        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString();
        var lines = Trace(() => CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 8885, Packets), Flow, "--stack");

        var stacks = lines.Where(Flow).Where(l => l.TryGetProperty("stack", out _)).ToList();
        Assert.NotEmpty(stacks);
        Assert.All(stacks, l =>
        {
            var frames = l.GetProperty("stack").EnumerateArray().Select(f => f.GetString()!).ToList();
            Assert.Equal(l.Str("location"), frames[0]);
            Assert.Contains(frames, f => f.StartsWith("nf_hook_slow+", StringComparison.Ordinal));
            Assert.Contains(frames, f => f.StartsWith("udp_sendmsg+", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void DropsOutsideTheWatchedSetAreNotReported()
    {
        // 198.51.100.0/24 is routed through a device that is not a pod's veth, so it is not watched.
        _network.Ip("link", "add", "ext0", "type", "veth", "peer", "name", "ext0peer");
        _network.Ip("link", "set", "ext0", "up");
        _network.Ip("route", "add", "198.51.100.0/24", "dev", "ext0");
        _network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 0; }; " +
                     "add rule inet edr out udp dport 7777 drop");

        bool PodFlow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString();
        var lines = Trace(() =>
        {
            CalicoNetwork.SendUdp(_network.NodeNamespace, IPAddress.Parse("198.51.100.7"), 7777, Packets);
            CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 7777, Packets);
        }, PodFlow);

        Assert.DoesNotContain(lines, l => l.Str("dst") == "198.51.100.7");
        Assert.Equal(Packets, lines.Where(PodFlow).Sum(l => l.Num("count")));
    }

    [Fact]
    public void TrafficThatIsDeliveredProducesNothing()
    {
        using var listener = PodListener.Udp(_pod, 9000);

        var lines = Trace(() => CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 9000, Packets));

        Assert.Equal(Packets, listener.Received());
        Assert.DoesNotContain(lines, l => l.Num("dport") == 9000 || l.Num("sport") == 9000);
    }

    [Fact]
    public void UdpToAClosedPortInsideThePodIsReportedAsNoSocket()
    {
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == 9111;
        var lines = Trace(() => CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 9111, Packets), Flow);

        var drops = lines.Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        Assert.All(drops, l =>
        {
            Assert.Equal("NO_SOCKET", l.Str("reason"));
            Assert.Equal(CalicoNetwork.Inode(_pod.Namespace), (uint)l.Num("netns"));
        });
    }

    [Fact]
    public void PodTrafficToAnAddressWithoutARouteIsReported()
    {
        // The node has no default route and none to 10.255.255.9: the pod's packets die in its routing step.
        bool Flow(JsonElement l) => l.Str("src") == _pod.IPv4.ToString() && l.Str("dst") == "10.255.255.9";
        var lines = Trace(() => CalicoNetwork.SendUdp(_pod.Namespace, IPAddress.Parse("10.255.255.9"), 5353, Packets), Flow);

        var drops = lines.Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        Assert.All(drops, l =>
        {
            Assert.Equal("IP_INNOROUTES", l.Str("reason"));
            Assert.StartsWith("ip_error+0x", l.Str("location"));
            Assert.Equal("kernel-stack", l.Culprit().Str("kind"));
            Assert.Contains("ip route get", l.Culprit().Str("check"));
            Assert.Equal(CalicoNetwork.Inode(_network.NodeNamespace), (uint)l.Num("netns"));
        });
    }

    [Fact]
    public void CtrlCAndKillLeaveNoProgramOrLinkBehind()
    {
        foreach (var signal in new[] { "INT", "TERM", "KILL" })
        {
            IReadOnlySet<int> programs;
            using (var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json", "--arm", "always"))
            {
                programs = tracer.BpfProgramIds();
                Assert.True(programs.Count >= 3, "the drop probe and both sentinel programs"); // kfree_skb + 2 sentinels
                Assert.Contains("table inet tracer", Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "tables"));
                var exitCode = tracer.Stop(signal);
                if (signal != "KILL")
                {
                    Assert.Equal(0, exitCode);
                    Assert.Contains("summary:", tracer.Stderr);
                }
            }
            // After kill -9 the kernel releases programs, links and the owned nft table with the process's fds.
            TracerProcess.WaitUntilProgramsGone(programs, $"after SIG{signal}");
            Assert.DoesNotContain("tracer", Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "tables"));
        }
    }

    private List<JsonElement> Trace(Action traffic, Func<JsonElement, bool>? expect = null, params string[] options) =>
        TraceRun.Lines(_network.NodeNamespace, traffic, expect, Packets, options);
}
