using System.Net;
using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// Who dropped it, on the real kernel: each test installs one culprit in the node namespace of a
/// Calico-style network, sends node→pod probes, and checks the culprit Tracer names for every drop.
/// </summary>
public sealed class AttributionScenarioTests : IDisposable
{
    private const int Packets = 30;
    private const int ProbePort = 8885;
    private const byte NfprotoIPv4 = 2;
    private const byte NfprotoIPv6 = 10;
    private const byte LocalOut = 3;
    private readonly CalicoNetwork _network = new();
    private readonly Pod _pod;

    public AttributionScenarioTests() => _pod = _network.AddPod();

    public void Dispose() => _network.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ABpfNetfilterProgramIsNamedWithItsHookAndPriority(bool ipv6)
    {
        using var edr = EdrNetfilterProgram.Attach(_network.NodeNamespace, ipv6 ? NfprotoIPv6 : NfprotoIPv4, LocalOut, -75);

        var drops = ProbeDrops(ipv6 ? _pod.IPv6 : _pod.IPv4);

        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal("bpf-program", culprit.Str("kind"));
            Assert.Equal("bracketed", culprit.Str("confidence"));
            Assert.Equal(EdrNetfilterProgram.ProgramName, culprit.Str("program_name"));
            Assert.Equal(edr.ProgramId, (uint)culprit.Num("program_id"));
            Assert.Equal("netfilter", culprit.Str("attach"));
            Assert.Equal("OUTPUT", culprit.Str("hook"));
            Assert.Equal(-75, culprit.Num("priority"));
            Assert.Contains("not iptables, not nftables", culprit.Str("summary"));
        });
    }

    [Fact]
    public void TheBpfProgramIsBlamedNotAnUnrelatedNftablesChainOnTheSameHook()
    {
        _network.Nft("add table inet unrelated; add chain inet unrelated out { type filter hook output priority 0; policy accept; }; " +
                     "add rule inet unrelated out counter");
        using var edr = EdrNetfilterProgram.Attach(_network.NodeNamespace, NfprotoIPv4, LocalOut, -75);

        var drops = ProbeDrops(_pod.IPv4);

        Assert.All(drops, line => Assert.Equal(edr.ProgramId, (uint)line.Culprit().Num("program_id")));
    }

    [Fact]
    public void AnNftablesDropIsPinnedToItsChainAndTable()
    {
        _network.Nft("add table inet unrelated; add chain inet unrelated out { type filter hook output priority -150; }; " +
                     "add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {ProbePort} drop");

        var drops = ProbeDrops(_pod.IPv4);

        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal("nftables-rule", culprit.Str("kind"));
            Assert.Equal("edr", culprit.Str("table"));
            Assert.Equal("out", culprit.Str("chain"));
            Assert.Equal(10, culprit.Num("priority"));
        });
    }

    [Fact]
    public void AnIptablesNftRuleIsRecognisedAsIptables()
    {
        Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "iptables-nft", "-A", "OUTPUT", "-d", _pod.IPv4.ToString(),
                    "-p", "udp", "--dport", ProbePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");

        var drops = ProbeDrops(_pod.IPv4);

        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal("iptables-rule", culprit.Str("kind"));
            Assert.Equal("filter", culprit.Str("table"));
            Assert.Equal("OUTPUT", culprit.Str("chain"));
        });
    }

    [Fact]
    public void APlainStackDropIsExplained()
    {
        // Nothing listens on the port inside the pod.
        var drops = ProbeDrops(_pod.IPv4);

        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal("kernel-stack", culprit.Str("kind"));
            Assert.Equal("inferred", culprit.Str("confidence"));
            Assert.Contains("listening", culprit.Str("explanation"));
        });
    }

    [Fact]
    public void WithTracerAttachedTrafficBehavesExactlyAsWithout()
    {
        using var listener = PodListener.Udp(_pod, 9000);
        var before = CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 9000, Packets);
        Assert.Equal(before, listener.Received());

        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, 9000, Packets);
        Assert.Equal(Packets, listener.Received()); // sentinels accept everything
        tracer.Stop();
    }

    /// <summary>Sends the probes and returns the lines of their drops, asserting every probe's drop was counted.</summary>
    private List<JsonElement> ProbeDrops(IPAddress pod)
    {
        bool Flow(JsonElement l) => l.Str("dst") == pod.ToString() && l.Num("dport") == ProbePort;
        var lines = TraceRun.Lines(_network.NodeNamespace, () => CalicoNetwork.SendUdp(_network.NodeNamespace, pod, ProbePort, Packets), Flow, Packets);
        var drops = lines.Where(Flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        return drops;
    }
}
