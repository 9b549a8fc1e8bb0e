using System.Text.Json.Nodes;
using Tracer.Native;
using Tracer.Tests.Infrastructure;
using Tracer.Tests.Telemetry;

namespace Tracer.Tests.Daemon;

/// <summary>
/// The seed incident staged on a <see cref="CalicoNetwork"/>: pod shop/web-5d8f7c9b4-x2x7q, which the FAKE API gives a
/// liveness probe on port 8885, and the EDR stand-in (a real BPF netfilter program at the node's LOCAL_OUT) dropping
/// the node's packets to that port, so the kubelet's probes never reach the pod. Disposing detaches the program.
/// </summary>
internal sealed class ProbeIncident : IDisposable
{
    public const int HealthPortOfPod = 8885; // edr_drop's blocked port
    public const string PodName = "web-5d8f7c9b4-x2x7q";
    public const string Culprit = $"bpf:{EdrNetfilterProgram.ProgramName}";

    private readonly string _nodeNamespace;
    private readonly Pod _web;
    private readonly EdrNetfilterProgram _edr;

    private ProbeIncident(string nodeNamespace, Pod web, JsonObject pod, EdrNetfilterProgram edr)
    {
        _nodeNamespace = nodeNamespace;
        _web = web;
        Pod = pod;
        _edr = edr;
    }

    /// <summary>The pod as the API serves it.</summary>
    public JsonObject Pod { get; }

    public static ProbeIncident Stage(CalicoNetwork network, FakeKubernetesApi api)
    {
        var web = network.AddPod();
        var pod = FakeKubernetesApi.Pod("shop", PodName, "node-1", [web.IPv4], ("ReplicaSet", "web-5d8f7c9b4"),
            new() { ["app"] = "web", ["pod-template-hash"] = "5d8f7c9b4" }, container: new JsonObject
            {
                ["ports"] = new JsonArray(new JsonObject { ["name"] = "health", ["containerPort"] = HealthPortOfPod }),
                ["livenessProbe"] = new JsonObject
                {
                    ["httpGet"] = new JsonObject { ["path"] = "/api/health", ["port"] = "health" },
                    ["periodSeconds"] = 10,
                    ["failureThreshold"] = 3,
                },
            });
        api.Add(pod);
        var edr = EdrNetfilterProgram.Attach(network.NodeNamespace, (byte)NfProto.NFPROTO_IPV4, (byte)nf_inet_hooks.NF_INET_LOCAL_OUT, -75);
        return new ProbeIncident(network.NodeNamespace, web, pod, edr);
    }

    /// <summary>One probe as the kubelet makes it, from the node: true when it failed (its SYNs never left).</summary>
    public bool ProbeFails() => !CalicoNetwork.ConnectTcp(_nodeNamespace, _web.IPv4, HealthPortOfPod, TimeSpan.FromSeconds(1.5));

    /// <summary>The pod's series of tracer_drops_total that count dropped liveness probe traffic.</summary>
    public static List<PrometheusSample> LivenessDrops(IEnumerable<PrometheusSample> scrape) =>
        [.. scrape.Where(s => s.Name == "tracer_drops_total" && s["k8s_pod_name"] == PodName && s["tracer_probe_kind"] == "liveness")];

    public void Dispose() => _edr.Dispose();
}

/// <summary><c>out/tracer daemon</c> in a test's node namespace, its pods from the FAKE API server, its Events to it.</summary>
internal static class TestDaemon
{
    public static TracerProcess Start(string nodeNamespace, FakeKubernetesApi api, DirectoryInfo dir, string otlpEndpoint, int healthPort,
                                      params string[] extra) =>
        TracerProcess.StartTracing(nodeNamespace,
            ["daemon", "--kubeconfig", api.WriteKubeconfig(dir.FullName), "--node-name", "node-1", "--otlp-endpoint", otlpEndpoint,
             "--control-socket", Socket(dir), "--health-port", healthPort.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);

    public static string Socket(DirectoryInfo dir) => Path.Combine(dir.FullName, "tracer.sock");
}
