using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// On the real kernel: Tracer arms nftables' trace marking, sentinels and verdict observers only where
/// netfilter drops are unexplained, narrowed to what is dropped, and disarms once they stop; healthy
/// traffic meets none of it. A scan stays exact, every drop with its address, reason and culprit.
/// </summary>
[KernelTest]
public sealed class ArmingScenarioTests : IDisposable
{
    private const int Packets = 20;
    private const int ProbePort = 8885;
    private const byte NfprotoIPv4 = (byte)NfProto.NFPROTO_IPV4;
    private const byte LocalOut = (byte)nf_inet_hooks.NF_INET_LOCAL_OUT;
    private static readonly TimeSpan Disarmed = ArmingPlan.DisarmAfter + TimeSpan.FromSeconds(8);
    private readonly CalicoNetwork _network = new();
    private readonly Pod _pod;

    public ArmingScenarioTests() => _pod = _network.AddPod();

    public void Dispose() => _network.Dispose();

    private string Tables() => Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "tables");

    [Fact]
    public void WithNothingDroppedTracerAddsNoChainAndNoNetfilterProgram()
    {
        using var listener = PodListener.Udp(_pod, 9000);
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 9000, Packets);
        Thread.Sleep(TimeSpan.FromSeconds(2.5)); // two intervals: anything armed by them would show

        Assert.Equal(Packets, listener.Received());
        Assert.DoesNotContain("tracer", Tables());
        Assert.Equal(0, tracer.NetfilterLinks());
        Assert.Equal(0, tracer.Stop());
        Assert.DoesNotContain(tracer.JsonLines(), l => l.Str("dst") == _pod.IPv4.ToString());
    }

    [Fact]
    public void NftablesDropsArmMarkingNarrowedToTheFlowThatNamesTheRuleExactly_AndItGoesOnceTheDropsStop()
    {
        _network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {ProbePort} counter drop");
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort;
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");
        Assert.DoesNotContain("tracer", Tables());

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        var table = tracer.NftablesTable;
        Poll.Until(() => Tables().Contains(table, StringComparison.Ordinal), TimeSpan.FromSeconds(5), Tables);
        var marking = Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "table", "inet", table);
        Assert.Contains($"{_pod.IPv4} . udp . {ProbePort}", marking); // that destination, protocol and port only
        Assert.Contains("hook output", marking); // at the hook point of the drop only
        Assert.DoesNotContain("hook prerouting", marking);
        Assert.Equal(0, tracer.NetfilterLinks()); // nftables itself freed them: its trace names the rule, no sentinel needed

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, 2 * Packets, TimeSpan.FromSeconds(15));
        Poll.Until(() => !Tables().Contains(table, StringComparison.Ordinal), Disarmed, Tables);
        Assert.Equal(0, tracer.Stop());

        var lines = tracer.JsonLines().Where(Flow).ToList();
        Assert.Equal(2 * Packets, lines.Sum(l => l.Num("count")));
        var handle = _network.NftRuleHandle("inet edr out", $"udp dport {ProbePort}");
        var later = lines.SkipWhile(l => l.Culprit().Str("confidence") != "exact").ToList();
        Assert.Equal(Packets, later.Sum(l => l.Num("count")));
        Assert.All(later, l =>
        {
            Assert.Equal("exact", l.Culprit().Str("confidence"));
            Assert.Equal(handle, l.Culprit().Num("handle"));
        });
        Assert.All(lines.Except(later), l => Assert.Equal("nftables-rule", l.Culprit().Str("kind"))); // the first drops: kind, not yet the rule
    }

    [Fact]
    public void ABpfNetfilterDropArmsSentinelsThatBracketItAndAreReleasedOnceTheDropsStop()
    {
        using var edr = EdrNetfilterProgram.Attach(_network.NodeNamespace, NfprotoIPv4, LocalOut, -75);
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort;
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");
        Assert.Equal(0, tracer.NetfilterLinks());

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        Poll.Until(() => tracer.NetfilterLinks() > 0, TimeSpan.FromSeconds(5), () => "no sentinel was attached");
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, 2 * Packets, TimeSpan.FromSeconds(15));
        Poll.Until(() => tracer.NetfilterLinks() == 0, Disarmed, () => $"{tracer.NetfilterLinks()} sentinel links still attached");
        // Disarmed, the same flow's drops keep the culprit the sentinels named.
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, 3 * Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.NetfilterLinks());
        Assert.Equal(0, tracer.Stop());

        var lines = tracer.JsonLines().Where(Flow).ToList();
        Assert.Equal(3 * Packets, lines.Sum(l => l.Num("count")));
        Assert.All(lines, l => Assert.Equal(edr.ProgramId, (uint)l.Culprit().Num("program_id")));
        var bracketed = lines.Where(l => l.Culprit().Str("confidence") == "bracketed").ToList();
        Assert.True(bracketed.Sum(l => l.Num("count")) >= 2 * Packets, string.Join('\n', lines));
        Assert.Contains(bracketed, l => l.Culprit().GetProperty("evidence").EnumerateArray().Any(e => e.GetString()!.StartsWith("named at ", StringComparison.Ordinal)));
    }

    [Fact]
    public void AScanOfTensOfThousandsOfPortsIsCountedExactly_EveryDropWithItsAddressReasonAndCulprit()
    {
        const int Ports = 30_000;
        const int Sent = 2 * Ports;
        _network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} meta l4proto udp counter drop");
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");

        NetworkNamespace.RunIn($"/run/netns/{_network.NodeNamespace}", () =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            for (var i = 0; i < Sent; i++)
            {
                try
                {
                    socket.SendTo(new byte[8], new IPEndPoint(_pod.IPv4, 10_000 + i % Ports));
                }
                catch (SocketException)
                {
                    // refused by the rule: the drop under test
                }
            }
            return true;
        });
        tracer.WaitForDrops(l => l.Str("dst") == _pod.IPv4.ToString() || l.TryGetProperty("overflow", out _), Sent, TimeSpan.FromSeconds(20));
        Assert.Equal(0, tracer.Stop());

        var lines = tracer.JsonLines();
        Assert.Equal(Sent, lines.Sum(l => l.Num("count")));
        Assert.All(lines, l =>
        {
            Assert.Equal(_pod.IPv4.ToString(), l.Str("dst"));
            Assert.Equal("NETFILTER_DROP", l.Str("reason"));
            Assert.Equal("nftables-rule", l.Culprit().Str("kind"));
        });
        Assert.Contains(lines, l => l.Str("aggregate") == "destination"); // the ports past the pod's flow budget
        Assert.True(lines.Count < Sent / 10, $"{lines.Count} lines for {Sent} drops: the scan was not aggregated");
    }
}
