using System.Net;
using k8s;
using k8s.Models;
using Tracer.Discovery;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

/// <summary>
/// A pod's probes from its spec as the API server sends it, with the kubelet's defaults and named ports; and which
/// dropped flows are their traffic (from the node to the probe's port, or back).
/// </summary>
[UnitTest]
public sealed class PodProbeTests
{
    private static V1PodSpec Spec(string containers) => KubernetesJson.Deserialize<V1Pod>(
        $$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop","uid":"u"},"spec":{"containers":{{{containers}}}}}""").Spec;

    private const string Web = """
        [{"name":"app","image":"web:1","ports":[{"name":"health","containerPort":8885},{"containerPort":8080}],
          "livenessProbe":{"httpGet":{"path":"/api/health","port":"health"},"periodSeconds":5,"failureThreshold":4,"timeoutSeconds":2},
          "readinessProbe":{"tcpSocket":{"port":8080}},
          "startupProbe":{"exec":{"command":["true"]}}},
         {"name":"sidecar","image":"proxy:1",
          "livenessProbe":{"grpc":{"port":9090}},
          "readinessProbe":{"httpGet":{"path":"/ready","port":"nosuchport"}}}]
        """;

    [Fact]
    public void ProbesAreReadWithTheKubeletsDefaultsAndNamedPorts_ExecAndUnresolvablePortsLeftOut()
    {
        var probes = PodProbe.Of(Spec(Web));

        Assert.Equal(3, probes.Count);
        var liveness = Assert.Single(probes, p => p.Container == "app" && p.Kind == ProbeKind.Liveness);
        Assert.Equal(("httpGet", 8885, "/api/health", 5, 4, 2), (liveness.Handler, liveness.Port, liveness.Path, liveness.PeriodSeconds, liveness.FailureThreshold, liveness.TimeoutSeconds));
        Assert.Equal("httpGet :8885/api/health", liveness.Endpoint);
        var readiness = Assert.Single(probes, p => p.Container == "app" && p.Kind == ProbeKind.Readiness);
        Assert.Equal(("tcpSocket", 8080, 10, 3, 1), (readiness.Handler, readiness.Port, readiness.PeriodSeconds, readiness.FailureThreshold, readiness.TimeoutSeconds));
        Assert.Equal("tcpSocket :8080", readiness.Endpoint);
        var grpc = Assert.Single(probes, p => p.Container == "sidecar");
        Assert.Equal((ProbeKind.Liveness, "grpc :9090"), (grpc.Kind, grpc.Endpoint));
    }

    [Fact]
    public void TheSentenceNamesTheProbeTheCulpritAndWhatTheKubeletWillDo()
    {
        var liveness = PodProbe.Of(Spec(Web)).First(p => p.Kind == ProbeKind.Liveness && p.Container == "app");
        Assert.Equal("liveness probe traffic (httpGet :8885/api/health) from the kubelet is being dropped: BPF program edr. " +
                     "The kubelet will restart container app after 4 failed probes, 5 s apart", liveness.Sentence("BPF program edr"));
        var readiness = PodProbe.Of(Spec(Web)).First(p => p.Kind == ProbeKind.Readiness);
        Assert.Contains("take this pod out of its Services' endpoints after 3 failed probes, 10 s apart", readiness.Consequence);
    }

    private static readonly IPAddress PodAddress = IPAddress.Parse("10.244.0.5");
    private static readonly IPAddress OtherPod = IPAddress.Parse("10.244.0.6");
    private static readonly IPAddress Node = IPAddress.Parse("10.244.0.1");

    private static PodSnapshot Pods()
    {
        var web = new PodIdentity("shop", "web", "u1", new Dictionary<string, string>()) { Probes = PodProbe.Of(Spec(Web)) };
        var other = new PodIdentity("shop", "client", "u2", new Dictionary<string, string>());
        return new PodSnapshot([new LocalPod(new IPNetwork(PodAddress, 32), "cali1", web), new LocalPod(new IPNetwork(OtherPod, 32), "cali2", other)], "kubernetes");
    }

    private static DropFlow Tcp(IPAddress source, ushort sourcePort, IPAddress destination, ushort destinationPort, byte protocol = (byte)IpProto.IPPROTO_TCP) =>
        new(1, 2, source, destination, (ushort)EtherType.ETH_P_IP, protocol, sourcePort, destinationPort, 7, 0);

    [Fact]
    public void TheNodesTcpToAProbePortAndThePodsAnswerAreProbeTraffic()
    {
        var pods = Pods();
        Assert.Equal(ProbeKind.Liveness, Assert.Single(PodProbe.Matching(Tcp(Node, 40000, PodAddress, 8885), pods)).Kind);
        Assert.Equal(ProbeKind.Readiness, Assert.Single(PodProbe.Matching(Tcp(PodAddress, 8080, Node, 40000), pods)).Kind); // the SYN-ACK back
    }

    [Fact]
    public void OtherPortsPodToPodTrafficUdpAndAggregatesAreNot()
    {
        var pods = Pods();
        Assert.Empty(PodProbe.Matching(Tcp(Node, 40000, PodAddress, 443), pods));
        Assert.Empty(PodProbe.Matching(Tcp(OtherPod, 40000, PodAddress, 8885), pods)); // another pod, not the kubelet
        Assert.Empty(PodProbe.Matching(Tcp(Node, 40000, PodAddress, 8885, (byte)IpProto.IPPROTO_UDP), pods));
        Assert.Empty(PodProbe.Matching(Tcp(Node, 40000, PodAddress, 8885).Coarse(sourceWatched: false), pods));
        Assert.Empty(PodProbe.Matching(Tcp(Node, 40000, OtherPod, 8885), pods)); // that pod has no probes
    }

    [Fact]
    public void WhenProbesShareAPortTheOneThatRestartsIsMostSevere()
    {
        var shared = PodProbe.Of(Spec("""
            [{"name":"app","image":"web:1",
              "readinessProbe":{"httpGet":{"path":"/ready","port":8885}},
              "livenessProbe":{"httpGet":{"path":"/live","port":8885}},
              "startupProbe":{"httpGet":{"path":"/live","port":8885}}}]
            """));
        Assert.Equal(ProbeKind.Liveness, PodProbe.MostSevere(shared)!.Kind);
        Assert.Equal(ProbeKind.Startup, PodProbe.MostSevere([.. shared.Where(p => p.Kind != ProbeKind.Liveness)])!.Kind);
        Assert.Null(PodProbe.MostSevere([]));
    }
}
