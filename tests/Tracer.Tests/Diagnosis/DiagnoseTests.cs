using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Tests.Daemon;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Diagnosis;

/// <summary>
/// tracer diagnose against the incident reproduced in namespaces: a node namespace and pod namespaces
/// wired as Calico wires them, a liveness endpoint in each pod, and a culprit of each kind.
/// </summary>
[KernelTest]
public sealed class DiagnoseTests : IDisposable
{
    private const int HealthPort = 8885;
    private const byte NfprotoIpv4 = (byte)NfProto.NFPROTO_IPV4;
    private const byte NfInetLocalOut = (byte)nf_inet_hooks.NF_INET_LOCAL_OUT;
    private readonly CalicoNetwork _network = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned)
            owned.Dispose();
        _network.Dispose();
    }

    private Pod PodWithLiveness()
    {
        var pod = _network.AddPod();
        _owned.Add(PodHttpServer.Start(pod, HealthPort));
        return pod;
    }

    private (int ExitCode, JsonElement Report, string Stderr) Diagnose(params string[] arguments) => DiagnoseWith([], arguments);

    private (int ExitCode, JsonElement Report, string Stderr) DiagnoseWith(string[] environment, params string[] arguments)
    {
        var result = Shell.Run("ip", ["netns", "exec", _network.NodeNamespace, "env", .. environment, RepositoryPaths.TracerExecutable, "diagnose",
                                      "--output", "json", "--duration", "2s", .. arguments]);
        Assert.True(result.Stdout.Length > 0, result.Stderr);
        return (result.ExitCode, JsonDocument.Parse(result.Stdout).RootElement.Clone(), result.Stderr);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct EdrConfig
    {
        public uint Threshold;
        public uint PodPrefix;
        public uint PodPrefixMask;
    }

    [Fact]
    public void TheIncident_APortScanProtectionBpfProgramIsNamedWithItsHookAndTheFailedProbes_AndTheHealthyPodIsReachable()
    {
        var blocked = PodWithLiveness();
        var healthy = PodWithLiveness();
        var prefix = new IPNetwork(blocked.IPv4, 24);
        using var edr = EdrNetfilterProgram.Attach(_network.NodeNamespace, NfprotoIpv4, NfInetLocalOut, -75, EdrNetfilterProgram.PortScanProgram,
            obj => obj.SetReadOnlyData(".rodata.edr", new EdrConfig
            {
                Threshold = 10,
                PodPrefix = BitConverter.ToUInt32(prefix.BaseAddress.GetAddressBytes()),
                PodPrefixMask = BitConverter.ToUInt32(IPAddress.Parse("255.255.255.0").GetAddressBytes()),
            }));
        // kubelet's probes plus a burst of connection attempts: the "port-scan protection" trips for this pod.
        ConnectBurst(blocked.IPv4, HealthPort, 20);

        var (exit, report, stderr) = Diagnose("--ip", blocked.IPv4.ToString(), "--port", HealthPort.ToString(), "--path", "/healthz", "--from", "pod");

        Assert.True(exit == 4, report.ToString());
        var verdict = report.GetProperty("verdict");
        Assert.False(verdict.GetProperty("reachable").GetBoolean(), stderr);
        var culprit = verdict.GetProperty("culprit");
        Assert.Equal("bpf-program", culprit.GetProperty("kind").GetString());
        Assert.Equal(EdrNetfilterProgram.PortScanProgram, culprit.GetProperty("program_name").GetString());
        Assert.Equal((long)edr.ProgramId, culprit.GetProperty("program_id").GetInt64());
        Assert.Equal("OUTPUT", culprit.GetProperty("hook").GetString());
        Assert.Equal(-75, culprit.GetProperty("priority").GetInt32());
        Assert.Equal("node → pod", verdict.GetProperty("direction").GetString());
        var probes = report.GetProperty("probes").EnumerateArray().ToList();
        var fromNode = probes.Where(p => p.GetProperty("direction").GetString() == "node → pod").ToList();
        Assert.Equal(3, fromNode.Count); // icmp, tcp, http
        Assert.All(fromNode, p => Assert.Equal(0, p.GetProperty("answered").GetInt32()));
        Assert.Equal(fromNode.Sum(p => p.GetProperty("sent").GetInt32()) + 3, verdict.GetProperty("probes").GetInt32());
        // The pod's echo requests reach the node; the node's replies die in the same program: the reverse path fails too.
        var reverse = Assert.Single(probes, p => p.GetProperty("direction").GetString() == "pod → node");
        Assert.Equal(0, reverse.GetProperty("answered").GetInt32());
        Assert.Contains("pod → node fails", verdict.GetProperty("summary").GetString());
        Assert.Contains($"to pod {blocked.IPv4} are being dropped", verdict.GetProperty("summary").GetString());
        // The program's holder is the test process (the stand-in's loader): the owner and the next step name it.
        var owner = culprit.GetProperty("owner");
        Assert.Equal(("process", "exact"), (owner.GetProperty("kind").GetString(), owner.GetProperty("confidence").GetString()));
        Assert.Equal(Environment.ProcessId, owner.GetProperty("processes")[0].GetProperty("pid").GetInt32());
        Assert.Contains($"pid {Environment.ProcessId}", verdict.GetProperty("next_step").GetString());
        Assert.All(report.GetProperty("findings").EnumerateArray(), f => Assert.True(f.GetProperty("pass").GetBoolean(), f.ToString()));

        var (healthyExit, healthyReport, _) = Diagnose("--ip", healthy.IPv4.ToString(), "--port", HealthPort.ToString(), "--path", "/healthz", "--from", "pod");
        Assert.Equal(0, healthyExit);
        Assert.True(healthyReport.GetProperty("verdict").GetProperty("reachable").GetBoolean());
        Assert.Equal(0, healthyReport.GetProperty("verdict").GetProperty("failed_probes").GetInt32());
        Assert.DoesNotContain(healthyReport.GetProperty("drops").EnumerateArray(), d => d.GetProperty("culprit").GetProperty("kind").GetString() != "kernel-stack");
    }

    [Fact]
    public async Task AnNftablesRuleDroppingTheProbePortIsNamed_WhileEchoesStillPass_ForAPodNamedThroughTheApi_AndTheVerdictIsASpan()
    {
        var pod = PodWithLiveness();
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {pod.IPv4} tcp dport {HealthPort} counter drop");
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        await using var api = await FakeKubernetesApi.StartIn(nodePath); // a FAKE API server: none can run here
        api.Add(FakeKubernetesApi.Pod("kube-system", "influxdb-847b74cbc5-ddxcd", "node-1", [pod.IPv4]));
        await using var receiver = await Telemetry.OtlpReceiver.StartIn(nodePath);
        var dir = Directory.CreateTempSubdirectory("tracer-diagnose-");
        var kubeconfig = api.WriteKubeconfig(dir.FullName);

        var (exit, report, _) = DiagnoseWith([$"KUBECONFIG={kubeconfig}", "NODE_NAME=node-1"], "--pod", "kube-system/influxdb-847b74cbc5-ddxcd",
                                             "--port", HealthPort.ToString(), "--otlp-endpoint", $"http://127.0.0.1:{receiver.GrpcPort}");
        dir.Delete(recursive: true);

        Assert.Equal(4, exit);
        var verdict = report.GetProperty("verdict");
        var culprit = verdict.GetProperty("culprit");
        Assert.Equal("nftables-rule", culprit.GetProperty("kind").GetString());
        Assert.Equal("edr", culprit.GetProperty("table").GetString());
        Assert.Equal($"ip daddr {pod.IPv4} tcp dport {HealthPort} counter drop", culprit.GetProperty("rule").GetString());
        Assert.Contains("nft -a list chain inet edr out", verdict.GetProperty("next_step").GetString());
        var probes = report.GetProperty("probes").EnumerateArray().ToList();
        Assert.Equal(3, probes.Single(p => p.GetProperty("kind").GetString() == "icmp echo").GetProperty("answered").GetInt32());
        Assert.Equal(0, probes.Single(p => p.GetProperty("kind").GetString() == "tcp connect").GetProperty("answered").GetInt32());
        Assert.Equal(3, verdict.GetProperty("failed_probes").GetInt32());
        Assert.Contains($"to pod kube-system/influxdb-847b74cbc5-ddxcd ({pod.IPv4}) are being dropped", verdict.GetProperty("summary").GetString());

        var span = Assert.Single(receiver.AllSpans, s => s.Name == "diagnose");
        Assert.Equal("kube-system/influxdb-847b74cbc5-ddxcd", Telemetry.OtlpReceiver.Attribute(span.Attributes, "tracer.diagnose.target"));
        Assert.Equal("false", Telemetry.OtlpReceiver.Attribute(span.Attributes, "tracer.diagnose.reachable"));
        Assert.Equal("nftables-rule", Telemetry.OtlpReceiver.Attribute(span.Attributes, "tracer.culprit.kind"));
        Assert.Equal(verdict.GetProperty("summary").GetString(), span.Status.Message);
    }

    /// <summary>
    /// Without --port, a pod named through the (FAKE) API is probed the way its spec tells the kubelet: its liveness
    /// endpoint, whose port a rule drops, fails; its readiness endpoint on another port succeeds.
    /// </summary>
    [Fact]
    public async Task WithoutAPortThePodsOwnProbesAreProbedAsTheKubeletWould()
    {
        const int ReadyPort = HealthPort + 1;
        var pod = PodWithLiveness();
        _owned.Add(PodHttpServer.Start(pod, ReadyPort));
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {pod.IPv4} tcp dport {HealthPort} counter drop");
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        await using var api = await FakeKubernetesApi.StartIn(nodePath); // a FAKE API server: none can run here
        api.Add(FakeKubernetesApi.Pod("shop", "web-0", "node-1", [pod.IPv4], container: new System.Text.Json.Nodes.JsonObject
        {
            ["livenessProbe"] = System.Text.Json.Nodes.JsonNode.Parse($$$"""{"httpGet":{"path":"/healthz","port":{{{HealthPort}}}},"timeoutSeconds":2}"""),
            ["readinessProbe"] = System.Text.Json.Nodes.JsonNode.Parse($$$"""{"httpGet":{"path":"/ready","port":{{{ReadyPort}}}}}"""),
        }));
        var dir = Directory.CreateTempSubdirectory("tracer-diagnose-");
        var (exit, report, _) = DiagnoseWith([$"KUBECONFIG={api.WriteKubeconfig(dir.FullName)}", "NODE_NAME=node-1"], "--pod", "shop/web-0");
        dir.Delete(recursive: true);

        Assert.Equal(4, exit);
        var probes = report.GetProperty("probes").EnumerateArray().ToList();
        var liveness = probes.Single(p => p.GetProperty("kind").GetString() == $"liveness probe httpGet :{HealthPort}/healthz");
        Assert.Equal((3, 0), (liveness.GetProperty("sent").GetInt32(), liveness.GetProperty("succeeded").GetInt32()));
        Assert.Equal($"http://{pod.IPv4}:{HealthPort}/healthz", liveness.GetProperty("target").GetString());
        var readiness = probes.Single(p => p.GetProperty("kind").GetString() == $"readiness probe httpGet :{ReadyPort}/ready");
        Assert.Equal(3, readiness.GetProperty("succeeded").GetInt32());
        Assert.Equal("nftables-rule", report.GetProperty("verdict").GetProperty("culprit").GetProperty("kind").GetString());
    }

    /// <summary>
    /// gRPC and HTTPS probes are judged by their protocol, as the kubelet judges them, not by their connection: a
    /// health service that answers NOT_SERVING fails although it connects (servers: real grpcio and openssl; the API is FAKE).
    /// </summary>
    [Fact]
    public async Task GrpcAndHttpsProbesAreJudgedByWhatTheServerAnswers()
    {
        const int GrpcPort = 9090, HttpsPort = 8443;
        var pod = _network.AddPod();
        _owned.Add(PodServerProcess.GrpcHealth(pod, GrpcPort));
        _owned.Add(PodServerProcess.Https(pod, HttpsPort));
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        await using var api = await FakeKubernetesApi.StartIn(nodePath); // a FAKE API server: none can run here
        api.Add(FakeKubernetesApi.Pod("shop", "pay-0", "node-1", [pod.IPv4], container: new System.Text.Json.Nodes.JsonObject
        {
            ["livenessProbe"] = System.Text.Json.Nodes.JsonNode.Parse($$$"""{"grpc":{"port":{{{GrpcPort}}}}}"""),
            ["startupProbe"] = System.Text.Json.Nodes.JsonNode.Parse($$$"""{"grpc":{"port":{{{GrpcPort}}},"service":"payments"}}"""),
            ["readinessProbe"] = System.Text.Json.Nodes.JsonNode.Parse($$$"""{"httpGet":{"path":"/","port":{{{HttpsPort}}},"scheme":"HTTPS"}}"""),
        }));
        var dir = Directory.CreateTempSubdirectory("tracer-diagnose-");
        var (_, report, stderr) = DiagnoseWith([$"KUBECONFIG={api.WriteKubeconfig(dir.FullName)}", "NODE_NAME=node-1"], "--pod", "shop/pay-0");
        dir.Delete(recursive: true);

        var probes = report.GetProperty("probes").EnumerateArray().ToDictionary(p => p.GetProperty("kind").GetString()!);
        var overall = probes[$"liveness probe grpc :{GrpcPort}"];
        Assert.Equal(3, overall.GetProperty("succeeded").GetInt32());
        Assert.Contains("SERVING", overall.GetProperty("detail").GetString());
        var payments = probes[$"startup probe grpc :{GrpcPort} payments"];
        Assert.Equal((3, 0), (payments.GetProperty("answered").GetInt32(), payments.GetProperty("succeeded").GetInt32()));
        Assert.Contains("NOT_SERVING", payments.GetProperty("detail").GetString());
        var https = probes[$"readiness probe httpGet https :{HttpsPort}/"];
        Assert.Equal(3, https.GetProperty("succeeded").GetInt32());
        Assert.Equal($"https://{pod.IPv4}:{HttpsPort}/", https.GetProperty("target").GetString());
        Assert.DoesNotContain("Exception", stderr);
    }

    /// <summary>An SRE reaches for diagnose while the daemon runs, its own marking armed by the same drops: both name the rule.</summary>
    [Fact]
    public void BesideARunningDaemonThatIsArmedForTheSameDrops_DiagnoseNamesTheNftablesRuleExactly()
    {
        var pod = PodWithLiveness();
        _network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                     $"add rule inet edr out ip daddr {pod.IPv4} tcp dport {HealthPort} counter drop");
        var socket = Path.Combine(Path.GetTempPath(), $"tracer-beside-{Environment.ProcessId}.sock");
        using var daemon = TracerProcess.StartTracing(_network.NodeNamespace, "daemon", "--kubernetes", "off", "--control-socket", socket,
                                                      "--health-port", "0", "--otlp-endpoint", "none");
        // A probe from the node (its socket made inside the node's namespace) that the rule drops: the daemon arms for it.
        NetworkNamespace.RunIn($"/run/netns/{_network.NodeNamespace}", () =>
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            return probe.ConnectAsync(pod.IPv4, HealthPort).Wait(TimeSpan.FromSeconds(2));
        });
        Poll.Until(() => NftTables(_network.NodeNamespace).Contains(daemon.NftablesTable, StringComparison.Ordinal),
                   TimeSpan.FromSeconds(10), () => "the daemon did not arm: " + daemon.Stderr);

        var (exit, report, stderr) = Diagnose("--ip", pod.IPv4.ToString(), "--port", HealthPort.ToString());

        Assert.Equal(4, exit);
        Assert.DoesNotContain("attributed to their chain only", stderr); // its own marking did not fall back
        var culprit = report.GetProperty("verdict").GetProperty("culprit");
        Assert.Equal("nftables-rule", culprit.GetProperty("kind").GetString());
        Assert.Equal("exact", culprit.GetProperty("confidence").GetString());
        Assert.Equal($"ip daddr {pod.IPv4} tcp dport {HealthPort} counter drop", culprit.GetProperty("rule").GetString());
        Assert.Equal(0, daemon.Stop("TERM"));
    }

    [Fact]
    public void StrictRpFilterDroppingThePodsTrafficFromAnUnroutedAddressIsNamed_AndItsCheckFails()
    {
        var pod = PodWithLiveness();
        // The pod sends from a second address the node does not route back through its veth; strict rp_filter drops it.
        var unrouted = IPAddress.Parse(pod.IPv4.ToString()[..pod.IPv4.ToString().LastIndexOf('.')] + ".77");
        Shell.Check("ip", "-n", pod.Namespace, "addr", "add", $"{unrouted}/32", "dev", "eth0");
        Shell.Check("ip", "-n", pod.Namespace, "route", "replace", "default", "via", "169.254.1.1", "dev", "eth0", "src", unrouted.ToString());
        CalicoNetwork.Sysctl(_network.NodeNamespace, "net.ipv4.conf.all.rp_filter=1");

        var (exit, report, stderr) = Diagnose("--ip", pod.IPv4.ToString(), "--from", "pod");

        Assert.Equal(4, exit);
        var verdict = report.GetProperty("verdict");
        Assert.Equal("pod → node", verdict.GetProperty("direction").GetString());
        Assert.Equal("kernel-stack", verdict.GetProperty("culprit").GetProperty("kind").GetString());
        Assert.True(verdict.GetProperty("summary").GetString()!.Contains("IP_RPFILTER", StringComparison.Ordinal), report.ToString());
        Assert.Contains("node → pod works", verdict.GetProperty("summary").GetString());
        var rpFilter = report.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("check").GetString() == "rp_filter");
        Assert.False(rpFilter.GetProperty("pass").GetBoolean(), stderr);
        Assert.Contains(unrouted.ToString(), rpFilter.GetProperty("detail").GetString());
    }

    /// <summary>
    /// Diagnose stopped mid-investigation (Ctrl-C, SIGTERM, kill -9), once its programs are attached, its namespace is
    /// marked and its probes have reached the pod: the kernel is left with none of it, in the node's namespace or the pod's.
    /// </summary>
    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    [InlineData("KILL")]
    public void StoppedMidInvestigationDiagnoseLeavesNothing(string signal)
    {
        var pod = _network.AddPod();
        using var liveness = PodHttpServer.Start(pod, HealthPort);
        using var diagnose = TracerProcess.Start(_network.NodeNamespace, l => l.StartsWith("diagnosing ", StringComparison.Ordinal),
                                                 "diagnose", "--ip", pod.IPv4.ToString(), "--port", HealthPort.ToString(), "--path", "/healthz",
                                                 "--from", "pod", "--output", "json", "--duration", "10m");
        // Past loading: its namespace marked, its sentinels attached, and its probes (sent only once the drop probe
        // is attached) at the pod.
        Poll.Until(() => NftTables(_network.NodeNamespace).Contains(diagnose.NftablesTable, StringComparison.Ordinal) &&
                         diagnose.NetfilterLinks() > 0 && liveness.Connections > 0,
                   TimeSpan.FromSeconds(30), () => $"diagnose did not get going: {liveness.Connections} probes reached the pod; {diagnose.Stderr}");
        var programs = diagnose.BpfProgramIds();
        Assert.NotEmpty(programs);

        var exitCode = diagnose.Stop(signal);

        if (signal != "KILL")
        {
            // Interrupted, it still reports what it saw: the healthy pod answered.
            Assert.True(exitCode == 0, diagnose.Stderr);
            Assert.True(JsonDocument.Parse(diagnose.Stdout).RootElement.GetProperty("verdict").GetProperty("reachable").GetBoolean(), diagnose.Stdout);
        }
        // After kill -9 the kernel releases programs, links and the owned nft table with the process's fds.
        TracerProcess.WaitUntilProgramsGone(programs, $"after SIG{signal}");
        Assert.DoesNotContain("tracer", NftTables(_network.NodeNamespace));
        Assert.DoesNotContain("tracer", NftTables(pod.Namespace));
    }

    private static string NftTables(string ns) => Shell.Check("ip", "netns", "exec", ns, "nft", "list", "tables");

    [Fact]
    public async Task BadInputGetsAClearMessageAndTheRightExitCode()
    {
        _network.AddPod();
        var notLocal = Shell.Run("ip", "netns", "exec", _network.NodeNamespace, RepositoryPaths.TracerExecutable, "diagnose", "--ip", "192.0.2.222");
        Assert.Equal(2, notLocal.ExitCode);
        Assert.Contains("192.0.2.222 is not a pod of this node", notLocal.Stderr);

        await using var api = await FakeKubernetesApi.StartIn($"/run/netns/{_network.NodeNamespace}");
        var dir = Directory.CreateTempSubdirectory("tracer-diagnose-");
        var unknown = Shell.Run("ip", "netns", "exec", _network.NodeNamespace, "env", $"KUBECONFIG={api.WriteKubeconfig(dir.FullName)}", "NODE_NAME=node-1",
                                RepositoryPaths.TracerExecutable, "diagnose", "--pod", "shop/nope");
        dir.Delete(recursive: true);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("No pod shop/nope in the cluster", unknown.Stderr);

        var both = Shell.Run(RepositoryPaths.TracerExecutable, "diagnose", "--pod", "a/b", "--ip", "10.0.0.1");
        Assert.Equal(2, both.ExitCode);
        var notRoot = Shell.RunTracerUnprivileged([], "diagnose", "--ip", "10.0.0.1");
        Assert.Equal(3, notRoot.ExitCode);
        Assert.Contains("needs root", notRoot.Stderr);
        foreach (var result in new[] { notLocal, unknown, both, notRoot })
            Assert.DoesNotContain("   at ", result.Stderr);
    }

    /// <summary>Connection attempts from the node, as a burst of probes (or a scan) makes them; refused or dropped alike.</summary>
    private void ConnectBurst(IPAddress pod, int port, int count) => NetworkNamespace.RunIn($"/run/netns/{_network.NodeNamespace}", () =>
    {
        for (var i = 0; i < count; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.ConnectAsync(new IPEndPoint(pod, port)).Wait(TimeSpan.FromMilliseconds(100));
            }
            catch (AggregateException)
            {
                // refused or dropped: either way an attempt
            }
        }
        return count;
    });
}
