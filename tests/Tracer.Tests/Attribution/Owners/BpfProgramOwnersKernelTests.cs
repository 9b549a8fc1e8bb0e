using System.Text.Json;
using Tracer.Native;
using Tracer.Tests.Daemon;
using Tracer.Tests.Infrastructure;
using Tracer.Tests.Telemetry;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// Whose a BPF program is, on the real kernel: the EDR stand-in (a BPF netfilter program dropping node→pod probes)
/// loaded and held by a process of its own (tests/tools/bpf_load) in a cgroup v2 shaped as the kubelet and
/// containerd make a container's; a program no process holds, pinned in a bpffs of the test's; and a tc program named as
/// Calico felix names its entry program, pinned where felix pins its attachments or kept by its tc filter alone.
/// </summary>
[KernelTest]
public sealed class BpfProgramOwnersKernelTests : IDisposable
{
    private const int ProbePort = 8885; // the EDR stand-in's blocked port
    private const int Packets = 12;
    private const string PodUid = "5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11";
    private const string ContainerId = "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    private static readonly string LocalOut = ((int)nf_inet_hooks.NF_INET_LOCAL_OUT).ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static readonly string IPv4 = ((int)NfProto.NFPROTO_IPV4).ToString(System.Globalization.CultureInfo.InvariantCulture);
    private readonly CalicoNetwork _network = new();
    private readonly Pod _pod;

    public BpfProgramOwnersKernelTests() => _pod = _network.AddPod();

    public void Dispose() => _network.Dispose();

    private bool Probe(JsonElement line) => line.Str("dst") == _pod.IPv4.ToString() && line.Num("dport") == ProbePort;

    /// <summary>The EDR stand-in, loaded and held by bpf_load in a kubelet-shaped container cgroup (removed by the caller, after the loader).</summary>
    private (BpfLoader Edr, TestCgroup Cgroup) StartEdrInPodCgroup()
    {
        var cgroup = TestCgroup.KubeletContainer(_pod.HostInterface, PodUid, ContainerId);
        try
        {
            var edr = BpfLoader.Start(_network.NodeNamespace, TestPrograms.Compile(EdrNetfilterProgram.ProgramName), "netfilter", IPv4, LocalOut, "-75");
            cgroup.Add(edr.Pid);
            return (edr, cgroup);
        }
        catch
        {
            cgroup.Dispose();
            throw;
        }
    }

    [Fact]
    public void TheProcessHoldingTheEdrProgramIsNamedWithItsPidExecutableCgroupAndPodUid()
    {
        var (edr, cgroup) = StartEdrInPodCgroup();
        var (pid, program) = (edr.Pid, edr.ProgramIds.Single());
        List<JsonElement> lines;
        using (cgroup)
        using (edr)
            lines = TraceRun.Lines(_network.NodeNamespace, () => CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets), Probe, Packets);

        var named = lines.Where(Probe).Where(l => l.Culprit().Num("program_id") == program).ToList();
        Assert.NotEmpty(named);
        Assert.All(named, line =>
        {
            var owner = line.Culprit().GetProperty("owner");
            Assert.Equal("process", owner.Str("kind"));
            Assert.Equal(BpfLoader.Path, owner.Str("name"));
            Assert.Equal("exact", owner.Str("confidence"));
            var process = Assert.Single(owner.GetProperty("processes").EnumerateArray());
            Assert.Equal(pid, process.Num("pid"));
            Assert.Equal(BpfLoader.Path, process.Str("exe"));
            Assert.Equal(cgroup.CgroupPath, process.Str("cgroup"));
            Assert.Equal(PodUid, process.Str("pod_uid"));
            Assert.Equal(ContainerId, process.Str("container_id"));
            Assert.Contains($"pid {pid}", owner.Str("summary"));
            // The kernel's own bookkeeping: the loader's program and link descriptors name the program.
            var evidence = owner.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
            Assert.Contains(evidence, e => e.StartsWith($"/proc/{pid}/fdinfo/", StringComparison.Ordinal) && e.EndsWith($": prog_id {program}", StringComparison.Ordinal));
            Assert.Contains(evidence, e => e.StartsWith($"/proc/{pid}/fdinfo/", StringComparison.Ordinal) && e.Contains("(netfilter), prog_id", StringComparison.Ordinal));
            Assert.False(owner.TryGetProperty("pod", out _)); // no API: the pod is known by its UID only
            Assert.False(line.TryGetProperty("dst_pod", out _)); // and the dropped packets' pod by its address
        });
    }

    /// <summary>The EDR agent as a host-network DaemonSet pod: the kubelet reports its container's id in the pod's status.</summary>
    private System.Text.Json.Nodes.JsonObject EdrAgentPod()
    {
        var agent = FakeKubernetesApi.Pod("security", "edr-agent-x7k2p", "node-1", [_network.NodeIPv4], ("DaemonSet", "edr-agent"), hostNetwork: true);
        agent["metadata"]!["uid"] = PodUid;
        agent["status"]!["containerStatuses"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = "edr", ["containerID"] = $"containerd://{ContainerId}", ["ready"] = true, ["restartCount"] = 0,
            ["image"] = "registry.example/edr:7.1.3", ["imageID"] = "", ["state"] = new System.Text.Json.Nodes.JsonObject { ["running"] = new System.Text.Json.Nodes.JsonObject() },
        });
        return agent;
    }

    /// <summary>
    /// Runs <paramref name="body"/> with a FAKE Kubernetes API server (no real one can run here) in the node's namespace
    /// that holds the EDR agent's pod and pod web-0, the EDR stand-in held in the agent's container cgroup, and a kubeconfig
    /// for the API in a directory of the test's own.
    /// </summary>
    private async Task WithEdrAgentPod(Func<FakeKubernetesApi, DirectoryInfo, BpfLoader, Task> body)
    {
        var dir = Directory.CreateTempSubdirectory("tracer-owner-");
        await using var api = await FakeKubernetesApi.StartIn($"/run/netns/{_network.NodeNamespace}");
        try
        {
            api.Add(EdrAgentPod());
            api.Add(FakeKubernetesApi.Pod("shop", "web-0", "node-1", [_pod.IPv4], ("StatefulSet", "web")));
            var (edr, cgroup) = StartEdrInPodCgroup();
            using (cgroup)
            using (edr)
                await body(api, dir, edr);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The owner names the EDR agent's pod, its container and the DaemonSet, from the API.</summary>
    private static void AssertTheEdrAgentsPod(JsonElement owner)
    {
        Assert.Equal("security/edr-agent-x7k2p", owner.Str("pod"));
        Assert.Equal("edr", owner.Str("container"));
        Assert.Equal("DaemonSet security/edr-agent", owner.Str("workload"));
    }

    [Fact]
    public Task DiagnoseWithTheApiNamesThePodOfTheProgramsHolder() => WithEdrAgentPod((api, dir, edr) =>
    {
        var result = Shell.Run("ip", ["netns", "exec", _network.NodeNamespace, "env", $"KUBECONFIG={api.WriteKubeconfig(dir.FullName)}", "NODE_NAME=node-1",
                                      RepositoryPaths.TracerExecutable, "diagnose", "--output", "json", "--duration", "2s",
                                      "--pod", "shop/web-0", "--port", ProbePort.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(result.Stdout.Length > 0, result.Stderr);
        using var report = JsonDocument.Parse(result.Stdout);

        var culprit = report.RootElement.GetProperty("verdict").GetProperty("culprit");
        Assert.Equal((long)edr.ProgramIds.Single(), culprit.Num("program_id"));
        var owner = culprit.GetProperty("owner");
        Assert.Equal("process", owner.Str("kind"));
        AssertTheEdrAgentsPod(owner);
        // The node's pods, listed once (besides the target's own GET).
        Assert.Single(api.Requests, r => r == "list");
        return Task.CompletedTask;
    });

    /// <summary>The pod behind the UID and container id, through <c>tracer trace</c> where a kubeconfig and the node's name are set.</summary>
    [Fact]
    public Task TraceWithTheApiNamesThePodOfTheProgramsHolder() => WithEdrAgentPod((api, dir, edr) =>
    {
        var environment = new Dictionary<string, string> { ["KUBECONFIG"] = api.WriteKubeconfig(dir.FullName), ["NODE_NAME"] = "node-1" };
        using (var tracer = TracerProcess.StartTracing(_network.NodeNamespace, environment, "trace", "--output", "json"))
        {
            Assert.Contains("pods: named by the Kubernetes API (node node-1)", tracer.Stderr);
            CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
            tracer.WaitForDrops(Probe, Packets, TimeSpan.FromSeconds(15));
            Assert.Equal(0, tracer.Stop());

            var named = tracer.JsonLines().Where(Probe).Where(l => l.Culprit().Num("program_id") == edr.ProgramIds.Single()).ToList();
            Assert.NotEmpty(named);
            Assert.All(named, line =>
            {
                Assert.Equal("shop/web-0", line.Str("dst_pod")); // the dropped packets' pod, by the API's name
                AssertTheEdrAgentsPod(line.Culprit().GetProperty("owner"));
            });
        }
        return Task.CompletedTask;
    });

    /// <summary>The pod behind the UID and container id, through the daemon.</summary>
    [Fact]
    public Task WithTheApiThePodContainerAndWorkloadAreNamed() => WithEdrAgentPod(async (api, dir, edr) =>
    {
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        await using var receiver = await OtlpReceiver.StartIn(nodePath);
        using var daemon = TestDaemon.Start(_network.NodeNamespace, api, dir, $"http://127.0.0.1:{receiver.GrpcPort}", NamespaceSockets.FreePortIn(nodePath));
        using var session = SessionClient.Start(TestDaemon.Socket(dir), "start", "--pod", "shop/web-0", "--output", "json");
        Poll.Until(() => session.Stderr.Contains("in detail", StringComparison.Ordinal), TimeSpan.FromSeconds(15), () => session.Stderr);
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        Poll.Until(() => session.Records().Where(Probe).Sum(r => r.Num("count")) >= Packets, TimeSpan.FromSeconds(15), () => session.Stderr);
        Assert.Equal(0, daemon.Stop("TERM"));

        var owners = session.Records().Where(Probe).Select(r => r.Culprit()).Where(c => c.Num("program_id") == edr.ProgramIds.Single())
            .Select(c => c.GetProperty("owner")).ToList();
        Assert.NotEmpty(owners);
        Assert.All(owners, owner =>
        {
            AssertTheEdrAgentsPod(owner);
            Assert.Contains($"(pid {edr.Pid}, {BpfLoader.Path}) in container edr of pod security/edr-agent-x7k2p (DaemonSet security/edr-agent)",
                            owner.Str("summary"));
        });
    });

    /// <summary>Attaches a pinned tc program to the egress of the pod's host-side veth (towards the pod); returns its id.</summary>
    private long AttachToPodEgress(string pin)
    {
        _network.Tc("qdisc", "add", "dev", _pod.HostInterface, "clsact");
        _network.Tc("filter", "add", "dev", _pod.HostInterface, "egress", "bpf", "direct-action", "object-pinned", pin);
        return JsonDocument.Parse(_network.Tc("-j", "filter", "show", "dev", _pod.HostInterface, "egress")).RootElement
            .EnumerateArray().Single(f => f.TryGetProperty("options", out _)).GetProperty("options").GetProperty("prog").GetProperty("id").GetInt64();
    }

    private List<JsonElement> TracedDropsOf(long program) =>
        TraceRun.Lines(_network.NodeNamespace, () => CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets), Probe, Packets)
            .Where(Probe).Where(l => l.Culprit().Num("program_id") == program).ToList();

    [Fact]
    public void AProgramNoProcessHoldsIsNamedByItsPin()
    {
        // bpftool loads the tc program, pins it and exits; tc attaches the pinned program. The pin goes with the
        // test's bpffs, the program with the namespace's tc filter.
        using var bpffs = new TestBpffs();
        var pin = bpffs.PinClassifier(TestPrograms.Compile("tc_drop"), "edr_tc");
        var named = TracedDropsOf(AttachToPodEgress(pin));

        Assert.NotEmpty(named);
        Assert.All(named, line =>
        {
            var owner = line.Culprit().GetProperty("owner");
            Assert.Equal("pinned-program", owner.Str("kind"));
            Assert.Equal(pin, owner.Str("pin_path"));
            Assert.Contains("no process holds it", owner.Str("summary"));
            Assert.False(owner.TryGetProperty("processes", out _));
        });
    }

    [Fact]
    public void AFelixNamedProgramPinnedWhereFelixPinsIsCalicosDataplaneAtThePodsInterface()
    {
        // felix's entry program by its name, pinned as felix pins a tcx attachment (<bpffs>/tcx/<iface>_<hook>) in a
        // bpffs of the test's: Tracer finds felix's pin directories in every bpffs mount, not only /sys/fs/bpf.
        using var bpffs = new TestBpffs();
        var pin = bpffs.PinClassifier(TestPrograms.Compile("calico_tc"), $"tcx/{_pod.HostInterface}_egress");
        var named = TracedDropsOf(AttachToPodEgress(pin));

        Assert.NotEmpty(named);
        Assert.All(named, line =>
        {
            Assert.Equal("cali_tc_preambl", line.Culprit().Str("program_name"));
            var owner = line.Culprit().GetProperty("owner");
            Assert.Equal("calico-dataplane", owner.Str("kind"));
            Assert.Equal(_pod.HostInterface, owner.Str("name"));
            Assert.Equal(pin, owner.Str("pin_path"));
            Assert.Contains($"workload interface {_pod.HostInterface} (tc egress: traffic to the pod", owner.Str("summary"));
            Assert.Contains("the kernel does not say which policy", owner.Str("summary"));
        });
    }

    [Fact]
    public void AFelixNamedTcFilterOnlyItsAttachmentKeepsIsCalicosDataplane()
    {
        // As felix leaves a tc filter: no process holds the program and no pin keeps it, only the attachment.
        using var bpffs = new TestBpffs();
        var pin = bpffs.PinClassifier(TestPrograms.Compile("calico_tc"), "loader/cali_tc");
        var program = AttachToPodEgress(pin);
        File.Delete(pin);
        var named = TracedDropsOf(program);

        Assert.NotEmpty(named);
        Assert.All(named, line =>
        {
            var owner = line.Culprit().GetProperty("owner");
            Assert.Equal("calico-dataplane", owner.Str("kind"));
            Assert.Equal(_pod.HostInterface, owner.Str("name"));
            Assert.False(owner.TryGetProperty("pin_path", out _));
            Assert.Contains(owner.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("no process holds it and no pin keeps it", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void AFelixNamedProgramPinnedElsewhereIsOnlyAPinnedProgram()
    {
        using var bpffs = new TestBpffs();
        var pin = bpffs.PinClassifier(TestPrograms.Compile("calico_tc"), "my-tools/cali_tc");
        var named = TracedDropsOf(AttachToPodEgress(pin));

        Assert.NotEmpty(named);
        Assert.All(named, line => Assert.Equal("pinned-program", line.Culprit().GetProperty("owner").Str("kind")));
    }
}
