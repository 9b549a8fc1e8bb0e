using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Trace.V1;
using Tracer.Tests.Infrastructure;
using Tracer.Tests.Telemetry;

namespace Tracer.Tests.Daemon;

/// <summary>
/// out/tracer daemon in the node namespace of a Calico-style network, its pods named by a FAKE
/// Kubernetes API server (no real one can run here), exporting to a real OTLP receiver.
/// </summary>
[KernelTest]
public sealed class DaemonTests : IAsyncLifetime
{
    private const int ProbePort = 8886;
    private const int Packets = 12;
    // How long the daemon gets to react to the API or a session client.
    private static readonly TimeSpan ReactionTimeout = TimeSpan.FromSeconds(15);
    private readonly CalicoNetwork _network = new();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tracer-daemon-");
    private FakeKubernetesApi _api = null!;
    private OtlpReceiver _receiver = null!;

    private string NodePath => $"/run/netns/{_network.NodeNamespace}";
    private string Socket => TestDaemon.Socket(_dir);

    public async Task InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartIn(NodePath);
        _receiver = await OtlpReceiver.StartIn(NodePath);
        // Every UDP packet to ProbePort of a pod is dropped by this rule in the node namespace.
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out udp dport {ProbePort} counter drop");
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _receiver.DisposeAsync();
        _network.Dispose();
        _dir.Delete(recursive: true);
    }

    private TracerProcess StartDaemon(params string[] extra) => StartDaemon(NamespaceSockets.FreePortIn(NodePath), extra);

    private TracerProcess StartDaemon(int healthPort, params string[] extra) =>
        TestDaemon.Start(_network.NodeNamespace, _api, _dir, $"http://127.0.0.1:{_receiver.GrpcPort}", healthPort, extra);

    private static JsonObject Web(Pod pod) => FakeKubernetesApi.Pod("shop", "web-5d8f7c9b4-x2x7q", "node-1", [pod.IPv4, pod.IPv6],
        ("ReplicaSet", "web-5d8f7c9b4"), new() { ["app"] = "web", ["pod-template-hash"] = "5d8f7c9b4" });

    [Fact]
    public async Task PodsOfTheApiAreFollowedThroughBookmarksDroppedWatchesAndGone_AndNamedOnRootEpisodeSpans()
    {
        var web = _network.AddPod();
        var db = _network.AddPod();
        var webPod = Web(web);
        _api.Add(webPod);
        _api.Add(FakeKubernetesApi.Pod("shop", "elsewhere", "node-2", [db.IPv4])); // another node's pod: not this daemon's
        _api.Add(FakeKubernetesApi.Pod("kube-system", "agent", "node-1", [_network.NodeIPv4], hostNetwork: true)); // has the node's address

        using var daemon = StartDaemon();
        Assert.Contains("watching 2 prefixes (2 discovered from kubernetes)", daemon.Status);
        CalicoNetwork.SendUdp(_network.NodeNamespace, web.IPv4, ProbePort, Packets);

        // A bookmark moves the resourceVersion on; a dropped watch resumes from it, without listing again.
        var bookmark = _api.Bookmark();
        _api.DropWatches();
        Poll.Until(() => _api.Requests.Contains($"watch rv={bookmark} bookmarks=true"), ReactionTimeout, () => string.Join("; ", _api.Requests));
        Assert.Single(_api.Requests, r => r == "list");
        // History expired: 410 Gone, so the daemon lists again, and follows the pods it then watches.
        _api.ExpireHistory();
        Poll.Until(() => _api.Requests.Count(r => r == "list") == 2, ReactionTimeout, () => string.Join("; ", _api.Requests));
        _api.Add(FakeKubernetesApi.Pod("shop", "db-0", "node-1", [db.IPv4, db.IPv6], ("StatefulSet", "db")));
        daemon.WaitForStderr(l => l.Contains("watching 4 addresses (kubernetes)", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        CalicoNetwork.SendUdp(_network.NodeNamespace, db.IPv4, ProbePort, Packets);
        _api.Delete(webPod);
        daemon.WaitForStderr(l => l.Contains("watching 2 addresses (kubernetes)", StringComparison.Ordinal), TimeSpan.FromSeconds(10));

        var programs = daemon.BpfProgramIds();
        Assert.NotEmpty(programs);
        Assert.Equal(0, daemon.Stop("TERM"));
        Assert.False(File.Exists(Socket)); // the control socket goes with the daemon, and so does everything it attached
        TracerProcess.WaitUntilProgramsGone(programs, "after the daemon stopped");
        Assert.DoesNotContain("tracer", Shell.Check("ip", "netns", "exec", _network.NodeNamespace, "nft", "list", "tables"));

        var episodes = _receiver.AllSpans.Where(s => Attribute(s, "destination.port") == ProbePort.ToString()).ToList();
        var webEpisode = Assert.Single(episodes, s => Attribute(s, "destination.address") == web.IPv4.ToString());
        Assert.True(webEpisode.ParentSpanId.IsEmpty); // the daemon's episodes are roots: its trace never ends
        Assert.Equal("drop by nftables-rule", webEpisode.Name);
        Assert.Equal(Packets.ToString(), Attribute(webEpisode, "tracer.drop.count"));
        Assert.Equal("shop", Attribute(webEpisode, "k8s.namespace.name"));
        Assert.Equal("web-5d8f7c9b4-x2x7q", Attribute(webEpisode, "k8s.pod.name"));
        Assert.Equal("web", Attribute(webEpisode, "k8s.deployment.name"));
        Assert.Equal("web", Attribute(webEpisode, "k8s.pod.label.app"));
        Assert.Equal("destination", Attribute(webEpisode, "tracer.pod.side"));
        Assert.Equal("shop/web-5d8f7c9b4-x2x7q", Attribute(webEpisode, "tracer.destination.pod"));
        Assert.False(string.IsNullOrEmpty(Attribute(webEpisode, "k8s.pod.uid")));
        var dbEpisode = Assert.Single(episodes, s => Attribute(s, "destination.address") == db.IPv4.ToString());
        Assert.Equal("db-0", Attribute(dbEpisode, "k8s.pod.name"));
        Assert.Equal("db", Attribute(dbEpisode, "k8s.statefulset.name"));
        Assert.DoesNotContain(_receiver.AllSpans, s => Attribute(s, "k8s.pod.name") is "elsewhere" or "agent");

        var webDrops = _receiver.SumPoints("tracer.drops").Where(p => Attribute(p.Attributes, "k8s.pod.name") == "web-5d8f7c9b4-x2x7q").ToList();
        Assert.NotEmpty(webDrops);
        Assert.Equal(Packets, webDrops.Max(p => p.AsInt));
    }

    /// <summary>
    /// The seed incident: an EDR's BPF netfilter program drops the kubelet's liveness probes of a pod. The daemon puts
    /// that where an SRE looks: a /metrics series of the pod naming the culprit and the probe, one Warning Event on the
    /// pod (updated, not duplicated, as drops go on), a span with the probe, and a log line saying what the kubelet will do.
    /// </summary>
    [Fact]
    public async Task ALivenessProbeDroppedByAnEdrIsOnThePodsMetricsEventSpanAndLog()
    {
        using var incident = ProbeIncident.Stage(_network, _api);
        var pod = incident.Pod;
        var healthPort = NamespaceSockets.FreePortIn(NodePath);
        using var daemon = StartDaemon(healthPort);

        // The kubelet's probes, from the node: their SYNs never leave. Several: the first drops name the hook point,
        // which has two hooks (the table of InitializeAsync and the EDR); arming narrows it to the EDR's program.
        const string Edr = ProbeIncident.Culprit;
        List<PrometheusSample> Probed() => ProbeIncident.LivenessDrops(PrometheusScrape.Parse(NamespaceSockets.HttpGetIn(NodePath, healthPort, "/metrics").Body));
        Poll.Until(() => incident.ProbeFails() && Probed().Any(s => s["tracer_culprit_id"] == Edr),
                   TimeSpan.FromSeconds(40), () => NamespaceSockets.HttpGetIn(NodePath, healthPort, "/metrics").Body);
        var series = Assert.Single(Probed(), s => s["tracer_culprit_id"] == Edr);
        Assert.Equal(("shop", "destination", "bpf-program"), (series["k8s_namespace_name"], series["tracer_pod_side"], series["tracer_culprit_kind"]));

        // One Warning Event on the pod, naming the culprit and the probe, counting every dropped probe packet.
        Corev1Event Event() => KubernetesJson.Deserialize<Corev1Event>(Assert.Single(_api.Events()));
        var dropped = 0;
        Poll.Until(() => _api.Events().Count > 0 && Event().Message.Contains(EdrNetfilterProgram.ProgramName, StringComparison.Ordinal) &&
                         Event().Count == (dropped = (int)Probed().Sum(s => s.Value)),
                   TimeSpan.FromSeconds(30), () => string.Join("; ", _api.Requests) + " " + string.Join(" | ", _api.Events()));
        var first = Event();
        Assert.Equal(("Warning", "PacketsDropped", "tracer"), (first.Type, first.Reason, first.Source.Component));
        Assert.Equal(("Pod", "shop", "web-5d8f7c9b4-x2x7q", pod["metadata"]!["uid"]!.GetValue<string>()),
                     (first.InvolvedObject.Kind, first.InvolvedObject.NamespaceProperty, first.InvolvedObject.Name, first.InvolvedObject.Uid));
        Assert.Equal("shop", first.Metadata.NamespaceProperty);
        Assert.Contains("liveness probe traffic (httpGet :8885/api/health) from the kubelet is being dropped: ", first.Message);
        Assert.Contains("The kubelet will restart container app after 3 failed probes, 10 s apart", first.Message);
        Assert.Contains("Next: ", first.Message);

        // More probes: the same Event counts on (patched), no second one.
        Assert.True(incident.ProbeFails());
        Poll.Until(() => Event().Count > dropped && Event().Count == (int)Probed().Sum(s => s.Value), TimeSpan.FromSeconds(30),
                   () => string.Join("; ", _api.Requests));
        Assert.Single(_api.Requests, r => r.StartsWith("create event", StringComparison.Ordinal));
        Assert.Contains(_api.Requests, r => r.StartsWith($"patch event shop/{first.Metadata.Name} application/merge-patch+json", StringComparison.Ordinal));

        Assert.Equal(0, daemon.Stop("TERM"));
        // Each episode of the pod's probe drops carries the probe; the last ones name the EDR's program.
        var episodes = _receiver.AllSpans.Where(s => Attribute(s, "k8s.pod.name") == "web-5d8f7c9b4-x2x7q").ToList();
        Assert.NotEmpty(episodes);
        Assert.All(episodes, e => Assert.Equal(("liveness", "httpGet :8885/api/health", "3"),
                                               (Attribute(e, "tracer.probe.kind"), Attribute(e, "tracer.probe.endpoint"), Attribute(e, "tracer.probe.failure_threshold"))));
        Assert.Contains(episodes, e => Attribute(e, "tracer.culprit.id") == Edr);
        Assert.Contains(daemon.Stderr.Split('\n'), l => l.Contains(
            "shop/web-5d8f7c9b4-x2x7q: liveness probe traffic (httpGet :8885/api/health) from the kubelet is being dropped: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HealthEndpointsSayTracing_AndTheDaemonFallsBackToRoutesWhenTheApiIsUnreachable()
    {
        var pod = _network.AddPod();
        // A kubeconfig whose server nobody answers on.
        var deadApi = Path.Combine(_dir.FullName, "dead-kubeconfig");
        File.WriteAllText(deadApi, File.ReadAllText(_api.WriteKubeconfig(_dir.FullName))
            .Replace($":{_api.Port}", $":{NamespaceSockets.FreePortIn(NodePath)}", StringComparison.Ordinal));
        var healthPort = NamespaceSockets.FreePortIn(NodePath);
        using var daemon = TracerProcess.StartTracing(_network.NodeNamespace, "daemon", "--kubeconfig", deadApi,
            "--node-name", "node-1", "--otlp-endpoint", "none", "--control-socket", Socket, "--health-port", healthPort.ToString());

        Assert.True(daemon.Status.Contains("discovered from routes", StringComparison.Ordinal), daemon.Stderr);
        Assert.Contains($"{pod.IPv4}/32 ({pod.HostInterface})", daemon.Status);
        Assert.Single(daemon.Stderr.Split('\n'), l => l.Contains("Kubernetes API at", StringComparison.Ordinal)); // said once, not per retry
        var ready = NamespaceSockets.HttpGetIn(NodePath, healthPort, "/readyz");
        Assert.Equal(200, ready.Status);
        Assert.StartsWith("tracing:", ready.Body);
        Assert.Equal(200, NamespaceSockets.HttpGetIn(NodePath, healthPort, "/healthz").Status);
        var metrics = NamespaceSockets.HttpGetIn(NodePath, healthPort, "/metrics");
        Assert.Equal(200, metrics.Status);
        Assert.Contains("\ntracer_attached{", "\n" + metrics.Body);
        Assert.StartsWith("text/plain", metrics.ContentType);
        // A scraper that asks for OpenMetrics (Prometheus does, first) gets it: its own media type, the same series, "# EOF" last.
        var openMetrics = NamespaceSockets.HttpGetIn(NodePath, healthPort, "/metrics", "application/openmetrics-text; version=1.0.0");
        Assert.Equal(200, openMetrics.Status);
        Assert.StartsWith("application/openmetrics-text", openMetrics.ContentType);
        Assert.EndsWith("# EOF\n", openMetrics.Body);
        Assert.Contains("\ntracer_attached{", "\n" + openMetrics.Body);
        Assert.Equal(404, NamespaceSockets.HttpGetIn(NodePath, healthPort, "/nothing").Status);
        Assert.Equal(0, daemon.Stop("TERM"));
    }

    [Fact]
    public async Task AnOnDemandSessionStreamsItsPodsDropsInDetail_IsListed_EndsWithItsClient_AndIsExportedAsItsOwnTrace()
    {
        var web = _network.AddPod();
        var other = _network.AddPod();
        _api.Add(Web(web));
        _api.Add(FakeKubernetesApi.Pod("shop", "other", "node-1", [other.IPv4]));
        using var daemon = StartDaemon();

        using var session = SessionClient.Start(Socket, "start", "--pod", "shop/web-5d8f7c9b4-x2x7q", "--output", "json", "--stack");
        using var second = SessionClient.Start(Socket, "start", "--ip", other.IPv4.ToString(), "--output", "json");
        Poll.Until(() => session.Stderr.Contains("in detail", StringComparison.Ordinal) && second.Stderr.Contains("in detail", StringComparison.Ordinal),
                   ReactionTimeout, () => session.Stderr + second.Stderr);
        var listed = SessionClient.Run(Socket, "list").Stdout;
        Assert.Contains("shop/web-5d8f7c9b4-x2x7q", listed);
        Assert.Contains(other.IPv4.ToString(), listed);
        CalicoNetwork.SendUdp(_network.NodeNamespace, web.IPv4, ProbePort, Packets);
        CalicoNetwork.SendUdp(_network.NodeNamespace, other.IPv4, ProbePort, Packets);
        Poll.Until(() => session.Records().Sum(r => r.GetProperty("count").GetInt64()) >= Packets &&
                         second.Records().Sum(r => r.GetProperty("count").GetInt64()) >= Packets,
                   ReactionTimeout, () => session.Stderr + second.Stderr);

        var records = session.Records();
        Assert.All(records, r => Assert.Equal(web.IPv4.ToString(), r.GetProperty("dst").GetString())); // only its pod
        Assert.All(records, r => Assert.Equal("shop/web-5d8f7c9b4-x2x7q", r.GetProperty("dst_pod").GetString())); // named as the API names it
        Assert.Equal(Packets, records.Sum(r => r.GetProperty("count").GetInt64()));
        Assert.All(records, r => Assert.True(r.GetProperty("stack").GetArrayLength() > 0)); // detail: every flow's stack
        Assert.All(second.Records(), r => Assert.Equal(other.IPv4.ToString(), r.GetProperty("dst").GetString()));
        Assert.All(second.Records(), r => Assert.False(r.TryGetProperty("stack", out _))); // no --stack there
        second.Kill();

        session.Kill(); // the client goes away: so does its session
        daemon.WaitForStderr(l => l.Contains("ended: the client went away", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Contains("no sessions", SessionClient.Run(Socket, "list").Stderr);
        Assert.Equal(0, daemon.Stop("TERM"));

        var spans = _receiver.AllSpans;
        var root = Assert.Single(spans, s => s.Name == "trace session" && Attribute(s, "tracer.session.target") != other.IPv4.ToString());
        Assert.Equal("shop/web-5d8f7c9b4-x2x7q", Attribute(root, "tracer.session.target"));
        var child = Assert.Single(spans, s => s.ParentSpanId == root.SpanId);
        Assert.Equal(web.IPv4.ToString(), Attribute(child, "destination.address"));
        Assert.Equal(Packets.ToString(), Attribute(child, "tracer.drop.count"));
        // The continuous trace exported both pods' episodes as roots besides.
        Assert.Contains(spans, s => s.ParentSpanId.IsEmpty && Attribute(s, "destination.address") == other.IPv4.ToString());
    }

    [Fact]
    public void BadRequestsAndASecondDaemonGetClearErrors_AndAStaleSocketIsReplaced()
    {
        _api.Add(Web(_network.AddPod()));
        using (var killed = StartDaemon())
            killed.Stop("KILL"); // leaves its socket file behind, nobody listening on it
        Assert.True(File.Exists(Socket));
        using var daemon = StartDaemon();
        Assert.True(daemon.Stderr.Contains("removed the stale control socket", StringComparison.Ordinal), daemon.Stderr);
        Assert.Equal("-rw-------", Shell.Check("stat", "-c", "%A", Socket).Trim()[1..].Insert(0, "-"));

        var second = Shell.Run("ip", "netns", "exec", _network.NodeNamespace, RepositoryPaths.TracerExecutable, "daemon", "--kubernetes", "off",
                               "--control-socket", Socket, "--health-port", "0", "--otlp-endpoint", "none");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("Another Tracer daemon is running on this node", second.Stderr);
        Assert.DoesNotContain("   at ", second.Stderr); // no stack trace

        var unknown = SessionClient.Run(Socket, "start", "--pod", "shop/nope");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("No pod shop/nope on this node", unknown.Stderr);
        Assert.Contains("Malformed request", RawRequest(Socket, "{not json\n"));
        Assert.Contains("Unknown command 'reboot'", RawRequest(Socket, "{\"command\":\"reboot\"}\n"));
        var malformed = SessionClient.Run(Socket, "start", "--pod", "nope");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("'nope' is not a pod as NAMESPACE/NAME", malformed.Stderr);
        var notRoot = Shell.RunTracerUnprivileged([], "session", "list", "--socket", Socket);
        Assert.Equal(3, notRoot.ExitCode);
        Assert.Contains("only root may talk to the Tracer daemon", notRoot.Stderr);
        var stopUnknown = SessionClient.Run(Socket, "stop", "s99");
        Assert.Equal(2, stopUnknown.ExitCode);
        Assert.Contains("No session s99", stopUnknown.Stderr);
        Assert.Equal(0, daemon.Stop("TERM"));

        var noDaemon = SessionClient.Run(Socket, "list");
        Assert.Equal(1, noDaemon.ExitCode);
        Assert.Contains("No Tracer daemon runs on this node", noDaemon.Stderr);
    }

    [Fact]
    public void MalformedControlRequestsGetOneErrorEach_AndTheDaemonServesOn()
    {
        using var daemon = StartDaemon();
        // Any root process may write to the socket, not only 'tracer session': each line is checked as the command line checks it.
        var requests = new (string Request, string Error)[]
        {
            ("\n", "Malformed request"),
            ("{\"command\":5}\n", "Malformed request"),
            ("{\"command\":\"start\",\"stack\":\"yes\"}\n", "Malformed request"),
            ("\u00ff\u00fe{}\n", "Malformed request"),
            ("{\"command\":\"start\",\"ip\":\"" + new string('1', 10_000) + "\"}\n", "Malformed request"), // past the 4 KiB a request may have
            ("{\"command\":\"start\"}\n", "needs a pod or an address"),
            ("{\"command\":\"start\",\"ip\":\"10.0.0.5\",\"pod\":\"shop/web\"}\n", "needs a pod or an address"),
            ("{\"command\":\"start\",\"pod\":\"nope\"}\n", "--pod 'nope' is not a pod as NAMESPACE/NAME"),
            ("{\"command\":\"start\",\"ip\":\"010.0.0.5\"}\n", "--ip '010.0.0.5' is not an IP address"),
            ("{\"command\":\"start\",\"ip\":\"10.0.0.5\",\"duration_seconds\":-5}\n", "duration_seconds '-5' is not a duration"),
            ("{\"command\":\"start\",\"ip\":\"10.0.0.5\",\"duration_seconds\":1e308}\n", "duration_seconds"),
            ("{\"command\":\"start\",\"ip\":\"10.0.0.5\",\"output\":\"yaml\"}\n", "output 'yaml' is not one of json, table"),
            ("{\"command\":\"start\",\"ip\":\"10.0.0.5\",\"output\":null}\n", "output '' is not one of json, table"),
            ("{\"command\":\"stop\"}\n", "stop needs the session's id"),
            ("{\"command\":\"reboot\"}\n", "Unknown command 'reboot'"),
        };
        var failures = requests.Select(r => (r.Request, r.Error, Reply: RawRequest(Socket, r.Request)))
            .Where(r => !r.Reply.Contains(r.Error, StringComparison.Ordinal))
            .Select(r => $"{r.Request[..Math.Min(80, r.Request.Length)].Trim()}: answered '{r.Reply}', not '{r.Error}'").ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        Assert.Equal(0, SessionClient.Run(Socket, "list").ExitCode); // still serving
        Assert.DoesNotContain("control socket: a request failed", daemon.Stderr);
        Assert.Equal(0, daemon.Stop("TERM"));
    }

    [Fact]
    public void SettingsComeFromTheFileThenTracerVariablesThenTheCommandLine()
    {
        var file = Path.Combine(_dir.FullName, "appsettings.json");
        File.WriteAllText(file, """{ "Kubernetes": "off", "HealthPort": 70000, "Logging": { "LogLevel": { "Default": "Warning" } } }""");
        CommandResult Daemon(string[] environment, params string[] options) => Shell.Run("ip",
            ["netns", "exec", _network.NodeNamespace, "env", .. environment, RepositoryPaths.TracerExecutable, "daemon", "--settings", file,
             "--control-socket", Socket, .. options]);

        var fromFile = Daemon([]);
        Assert.Equal(2, fromFile.ExitCode);
        Assert.Contains($"HealthPort in {file}: '70000' is not a port", fromFile.Stderr);
        Assert.Contains("TRACER_HealthPort '70001' is not a port", Daemon(["TRACER_HealthPort=70001"]).Stderr);
        Assert.Contains("--health-port '70002' is not a port", Daemon(["TRACER_HealthPort=70001"], "--health-port", "70002").Stderr);

        File.WriteAllText(file, "{ \"Kubernetes\": ");
        var broken = Daemon([]);
        Assert.Equal(2, broken.ExitCode);
        Assert.Contains("Cannot read the settings", broken.Stderr);
        File.Delete(file);
        var missing = Daemon([]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains($"--settings '{file}' does not exist", missing.Stderr);
        foreach (var result in new[] { fromFile, broken, missing })
            Assert.DoesNotContain("   at ", result.Stderr);
        Assert.False(File.Exists(Socket));
    }

    [Theory]
    [InlineData("--health-port", "70000")]
    [InlineData("--kubernetes", "maybe")]
    [InlineData("--otlp-endpoint", "jaeger:4317")]
    [InlineData("--interval", "soon")]
    public void AnInvalidSettingStopsTheDaemonAsRootWithOneMessageNamingIt(string option, string value)
    {
        string[] kubernetes = option == "--kubernetes" ? [] : ["--kubernetes", "off"];
        var result = Shell.Run("ip", ["netns", "exec", _network.NodeNamespace, RepositoryPaths.TracerExecutable, "daemon", option, value,
                                      "--control-socket", Socket, .. kubernetes]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{option} '{value}'", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.False(File.Exists(Socket));
    }

    private static string? Attribute(Span span, string key) => OtlpReceiver.Attribute(span.Attributes, key);

    private static string? Attribute(IEnumerable<KeyValue> attributes, string key) => OtlpReceiver.Attribute(attributes, key);

    /// <summary>The error the daemon answers to a request line written by hand.</summary>
    private static string RawRequest(string socket, string request)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, 0);
        client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socket));
        using var stream = new System.Net.Sockets.NetworkStream(client);
        stream.Write(System.Text.Encoding.UTF8.GetBytes(request));
        var reply = System.Text.Json.JsonDocument.Parse(new StreamReader(stream).ReadLine() ?? "{}");
        return reply.RootElement.TryGetProperty("error", out var error) ? error.GetString() ?? "" : "";
    }
}
