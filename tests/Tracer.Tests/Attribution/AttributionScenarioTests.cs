using System.Net;
using System.Text.Json;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// Who dropped it, on the real kernel: each test installs one culprit in the node namespace of a
/// Calico-style network, sends node→pod probes, and checks the culprit Tracer names for every drop.
/// </summary>
[KernelTest]
public sealed class AttributionScenarioTests : IDisposable
{
    private const int Packets = 30;
    private const int ProbePort = 8885;
    private const byte NfprotoIPv4 = (byte)NfProto.NFPROTO_IPV4;
    private const byte NfprotoIPv6 = (byte)NfProto.NFPROTO_IPV6;
    private const byte LocalOut = (byte)nf_inet_hooks.NF_INET_LOCAL_OUT;
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
    public void OnDemandTheFirstDropsNameTheHookFromTheStackAndLaterOnesAreBracketed()
    {
        using var edr = EdrNetfilterProgram.Attach(_network.NodeNamespace, NfprotoIPv4, LocalOut, -75);
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort;
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        var first = tracer.JsonLines().Where(Flow).ToList();
        // The sentinels go in at the interval that saw the drops.
        Poll.Until(() => tracer.NetfilterLinks() > 0, TimeSpan.FromSeconds(5), () => "no sentinel was attached: " + tracer.Stderr);
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, 2 * Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());
        var later = tracer.JsonLines().Where(Flow).Skip(first.Count).ToList();

        Assert.Equal(2 * Packets, first.Concat(later).Sum(l => l.Num("count")));
        Assert.Contains(first, l => l.Culprit().Str("hook") == "OUTPUT" && l.Culprit().Str("confidence") == "inferred");
        Assert.All(later, l =>
        {
            Assert.Equal("bracketed", l.Culprit().Str("confidence"));
            Assert.Equal(edr.ProgramId, (uint)l.Culprit().Num("program_id"));
        });
    }

    [Fact]
    public void ADropInsideThePodsNamespaceIsNamedThereExactly()
    {
        // A firewall inside the pod (as some network policy implementations do): the drop is in the pod's namespace.
        Shell.Check("ip", "netns", "exec", _pod.Namespace, "nft",
                    $"add table inet podfw; add chain inet podfw in {{ type filter hook input priority 0; }}; add rule inet podfw in udp dport {ProbePort} drop");
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort;
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json");

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        var first = tracer.JsonLines().Where(Flow).ToList();
        // nftables' trace marks in the pod's namespace from the interval that saw the drops.
        Poll.Until(() => Shell.Check("ip", "netns", "exec", _pod.Namespace, "nft", "list", "tables").Contains(tracer.NftablesTable, StringComparison.Ordinal),
                   TimeSpan.FromSeconds(5), () => "the pod's namespace was not marked: " + tracer.Stderr);
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(Flow, 2 * Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());
        var later = tracer.JsonLines().Where(Flow).Skip(first.Count).ToList();

        Assert.Equal(2 * Packets, first.Concat(later).Sum(l => l.Num("count")));
        Assert.All(first.Concat(later), l => Assert.Equal(CalicoNetwork.Inode(_pod.Namespace), (uint)l.Num("netns")));
        Assert.Contains(first, l => l.Culprit().Str("hook") == "INPUT");
        var handle = JsonDocument.Parse(Shell.Check("ip", "netns", "exec", _pod.Namespace, "nft", "-j", "-a", "list", "chain", "inet", "podfw", "in"))
            .RootElement.GetProperty("nftables").EnumerateArray().Single(e => e.TryGetProperty("rule", out _)).GetProperty("rule").GetProperty("handle").GetInt64();
        Assert.All(later, l =>
        {
            var culprit = l.Culprit();
            Assert.Equal("exact", culprit.Str("confidence"));
            Assert.Equal("nftables-rule", culprit.Str("kind"));
            Assert.Equal("podfw", culprit.Str("table"));
            Assert.Equal("in", culprit.Str("chain"));
            Assert.Equal(handle, culprit.Num("handle"));
            Assert.Equal("INPUT", culprit.Str("hook"));
        });
        // Tracer's table in the pod's namespace went with it.
        Assert.DoesNotContain("tracer", Shell.Check("ip", "netns", "exec", _pod.Namespace, "nft", "list", "tables"));
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnNftablesRuleIsNamedExactlyWithItsHandleAndText(bool ipv6)
    {
        var (pod, match) = ipv6 ? (_pod.IPv6, "ip6") : (_pod.IPv4, "ip");
        _network.Nft("add table inet unrelated; add chain inet unrelated out { type filter hook output priority -150; }; " +
                     "add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                     $"add rule inet edr out {match} daddr {pod} udp dport {ProbePort} counter drop");
        var handle = _network.NftRuleHandle("inet edr out", $"udp dport {ProbePort}");

        var drops = ProbeDrops(pod);

        AssertCulprit(drops, "nftables-rule", "edr", "out", handle, $"udp dport {ProbePort} counter");
        Assert.All(drops, line => Assert.Equal(10, line.Culprit().Num("priority")));
    }

    [Fact]
    public void AChainPolicyDropIsNamedAsThePolicy()
    {
        _network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 10; policy drop; }; " +
                     "add rule inet edr out udp dport != " + ProbePort + " accept");

        var drops = ProbeDrops(_pod.IPv4);

        AssertCulprit(drops, "nftables-policy", "edr", "out", handle: null, ruleContains: null);
    }

    [Fact]
    public void AnIptablesNftRuleIsRecognisedAsIptables()
    {
        Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "iptables-nft", "-A", "OUTPUT", "-d", _pod.IPv4.ToString(),
                    "-p", "udp", "--dport", ProbePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");
        var handle = _network.NftRuleHandle("ip filter OUTPUT", $"udp dport {ProbePort}");

        var drops = ProbeDrops(_pod.IPv4);

        AssertCulprit(drops, "iptables-rule", "filter", "OUTPUT", handle, $"dport {ProbePort}");
    }

    private static void AssertBpfProgram(List<JsonElement> drops, string reason, string attach, string name, long id) =>
        Assert.All(drops, line =>
        {
            Assert.Equal(reason, line.Str("reason"));
            var culprit = line.Culprit();
            Assert.Equal("bpf-program", culprit.Str("kind"));
            Assert.Equal(attach, culprit.Str("attach"));
            Assert.Equal(name, culprit.Str("program_name"));
            Assert.Equal(id, culprit.Num("program_id"));
        });

    [Fact]
    public void AnIptablesLegacyRuleIsNamedByItsNumberFromTheCounters()
    {
        Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "iptables-legacy", "-A", "OUTPUT", "-p", "tcp", "--dport", "1", "-j", "ACCEPT");
        Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "iptables-legacy", "-A", "OUTPUT", "-d", _pod.IPv4.ToString(),
                    "-p", "udp", "--dport", ProbePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");

        var drops = ProbeDrops(_pod.IPv4);

        AssertCulprit(drops, "iptables-rule", "filter", "OUTPUT", handle: null, ruleContains: null, confidence: "bracketed");
        // The counters name the rule once they have grown during the trace.
        Assert.Contains(drops, line => line.Culprit().Num("rule_number") == 2 && line.Culprit().Str("rule")!.Contains("--dport 8885", StringComparison.Ordinal));
    }

    private static void AssertCulprit(List<JsonElement> drops, string kind, string table, string chain, long? handle, string? ruleContains,
                                      string confidence = "exact") =>
        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal(kind, culprit.Str("kind"));
            Assert.Equal(confidence, culprit.Str("confidence"));
            Assert.Equal(table, culprit.Str("table"));
            Assert.Equal(chain, culprit.Str("chain"));
            Assert.Equal(handle ?? -1, culprit.Num("handle"));
            if (ruleContains is not null)
                Assert.Contains(ruleContains, culprit.Str("rule"));
        });

    /// <summary>The handle nft itself shows for the rule of <paramref name="chain"/> that contains <paramref name="text"/>.</summary>

    [Fact]
    public void ATcEgressProgramOnThePodsVethIsNamed()
    {
        var program = TestPrograms.Compile("tc_drop");
        _network.Tc("qdisc", "add", "dev", _pod.HostInterface, "clsact");
        _network.Tc("filter", "add", "dev", _pod.HostInterface, "egress", "bpf", "direct-action", "obj", program, "sec", "tc");
        var id = JsonDocument.Parse(_network.Tc("-j", "filter", "show", "dev", _pod.HostInterface, "egress")).RootElement
            .EnumerateArray().Single(f => f.TryGetProperty("options", out _)).GetProperty("options").GetProperty("prog").GetProperty("id").GetInt64();

        AssertBpfProgram(ProbeDrops(_pod.IPv4), "TC_EGRESS", "tc", "tc_drop", id);
    }

    /// <summary>tcx links (6.6+): Debian 12's iproute2 neither makes nor lists them; Tracer asks the kernel.</summary>
    [Fact]
    public void ATcxEgressProgramOnThePodsVethIsNamed()
    {
        using var tcx = BpfLoader.Start(_network.NodeNamespace, TestPrograms.Compile("tc_drop"), "tcx", _pod.HostInterface, "egress");

        AssertBpfProgram(ProbeDrops(_pod.IPv4), "TC_EGRESS", "tcx", "tc_drop", tcx.ProgramIds.Single());
    }

    [Fact]
    public void AnXdpProgramOnTheNodesVethIsNamed()
    {
        Shell.Check("ip", "-n", _network.NodeNamespace, "link", "set", "dev", _pod.HostInterface, "xdpgeneric", "obj", TestPrograms.Compile("xdp_drop"), "sec", "xdp");
        var id = JsonDocument.Parse(Shell.Check("ip", "-n", _network.NodeNamespace, "-j", "link", "show", "dev", _pod.HostInterface)).RootElement[0]
            .GetProperty("xdp").GetProperty("prog").GetProperty("id").GetInt64();
        PinGateway(); // the pod must not need ARP through the XDP program

        var drops = CountedDrops(() => CalicoNetwork.SendUdp(_pod.Namespace, _network.NodeIPv4, ProbePort, Packets),
                                 l => l.Str("src") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort);

        Assert.All(drops, line =>
        {
            var culprit = line.Culprit();
            Assert.Equal("bpf-program", culprit.Str("kind"));
            Assert.Equal("xdp", culprit.Str("attach"));
            Assert.Equal("xdp_drop", culprit.Str("program_name"));
            Assert.Equal(id, culprit.Num("program_id"));
        });
    }

    /// <summary>A permanent neighbour entry for the pod's gateway, as if ARP had already succeeded.</summary>
    private void PinGateway()
    {
        var mac = JsonDocument.Parse(Shell.Check("ip", "-n", _network.NodeNamespace, "-j", "link", "show", _pod.HostInterface))
            .RootElement[0].GetProperty("address").GetString()!;
        Shell.Check("ip", "-n", _pod.Namespace, "neigh", "replace", "169.254.1.1", "lladdr", mac, "dev", "eth0", "nud", "permanent");
    }

    [Fact]
    public void ACgroupEgressProgramIsNamed()
    {
        // A cgroup of the test's own, holding only the sender, with the policy program attached to it.
        using var cgroup = TestCgroup.Create(_pod.HostInterface);
        using var obj = Tracer.Native.BpfObject.Open(File.ReadAllBytes(TestPrograms.Compile("cgroup_drop")), "cgroup_drop");
        obj.Load();
        using var cgroupFd = Tracer.Native.Proxy.open(cgroup.Path, Tracer.Native.Libc.O_RDONLY | Tracer.Native.Libc.O_DIRECTORY | Tracer.Native.Libc.O_CLOEXEC);
        using var link = obj.Program("cgroup_drop").AttachCgroup(cgroupFd);
        var id = Tracer.Native.Proxy.bpf_obj_get_info_by_fd(obj.Program("cgroup_drop").Fd).id;

        var drops = CountedDrops(() => Shell.Check("sh", "-c",
            $"echo $$ > {cgroup.Path}/cgroup.procs && exec ip netns exec {_network.NodeNamespace} bash -c " +
            $"'for i in $(seq {Packets}); do echo probe 2>/dev/null > /dev/udp/{_pod.IPv4}/{ProbePort}; done; true'"),
            l => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort);

        AssertBpfProgram(drops, "BPF_CGROUP_EGRESS", "cgroup_skb", "cgroup_drop", id);
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
    public void AReversePathFilterDropIsExplained()
    {
        // The pod sends from an address the node routes elsewhere: strict rp_filter on its veth drops it.
        Shell.Check("ip", "-n", _pod.Namespace, "addr", "add", "10.99.0.7/32", "dev", "eth0");
        PinGateway(); // with rp_filter on, the pod's ARP from that address would fail first
        CalicoNetwork.Sysctl(_network.NodeNamespace, "net.ipv4.conf.all.rp_filter=1");
        CalicoNetwork.Sysctl(_network.NodeNamespace, $"net.ipv4.conf.{_pod.HostInterface}.rp_filter=1");

        var drops = CountedDrops(() => SendFrom(_pod, "10.99.0.7", _network.NodeIPv4), l => l.Str("src") == "10.99.0.7", "--ip", "10.99.0.7");

        Assert.All(drops, line =>
        {
            Assert.Equal("IP_RPFILTER", line.Str("reason"));
            var culprit = line.Culprit();
            Assert.Equal("kernel-stack", culprit.Str("kind"));
            Assert.Contains("rp_filter", culprit.Str("check"));
        });
    }

    /// <summary>UDP from a given source address inside the pod (bound explicitly, as a spoofing or misconfigured app would).</summary>
    private static void SendFrom(Pod pod, string source, IPAddress destination) =>
        Tracer.Kernel.NetworkNamespace.RunIn($"/run/netns/{pod.Namespace}", () =>
        {
            for (var i = 0; i < Packets; i++)
            {
                using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                socket.SendTo(new byte[8], new IPEndPoint(destination, ProbePort));
            }
            return true;
        });

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
    private List<JsonElement> ProbeDrops(IPAddress pod) => CountedDrops(
        () => CalicoNetwork.SendUdp(_network.NodeNamespace, pod, ProbePort, Packets),
        l => l.Str("dst") == pod.ToString() && l.Num("dport") == ProbePort,
        "--arm", "always");

    /// <summary>Traces around <paramref name="traffic"/>; returns the lines of <paramref name="flow"/>, asserting they count every packet.</summary>
    private List<JsonElement> CountedDrops(Action traffic, Func<JsonElement, bool> flow, params string[] options)
    {
        var drops = TraceRun.Lines(_network.NodeNamespace, traffic, flow, Packets, options).Where(flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        return drops;
    }
}
