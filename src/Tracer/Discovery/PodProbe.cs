using System.Globalization;
using k8s.Models;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Discovery;

/// <summary>Which of a container's probes: what the kubelet does when it fails.</summary>
internal enum ProbeKind
{
    /// <summary>Failing: the kubelet restarts the container.</summary>
    Liveness,

    /// <summary>Failing: the kubelet restarts the container (before liveness takes over).</summary>
    Startup,

    /// <summary>Failing: the pod leaves its Services' endpoints.</summary>
    Readiness,
}

/// <summary>
/// One liveness, readiness or startup probe of a pod's container, as the kubelet runs it: from the node to the
/// pod's address (or <see cref="Host"/>) and <see cref="Port"/> over TCP (httpGet, tcpSocket, grpc; exec probes
/// send nothing over the network and are not kept).
/// </summary>
internal sealed record PodProbe(
    ProbeKind Kind,
    string Container,
    string Handler,
    int Port,
    string? Path,
    string? Host,
    string Scheme,
    int PeriodSeconds,
    int FailureThreshold,
    int TimeoutSeconds)
{
    /// <summary>A grpc probe's health service name ("" or null: the server's overall health).</summary>
    public string? GrpcService { get; init; }

    /// <summary>The kind as it is written in the pod spec and in every output: liveness, readiness, startup.</summary>
    public string KindName => Kind.ToString().ToLowerInvariant();

    /// <summary>"httpGet :8885/api/health", "httpGet https :8443/healthz", "tcpSocket :5432", "grpc :9090", "grpc :9090 payments".</summary>
    public string Endpoint => Handler switch
    {
        "httpGet" => $"{Handler}{(Scheme == "HTTPS" ? " https" : "")} :{Port}{Path ?? "/"}",
        "grpc" when !string.IsNullOrEmpty(GrpcService) => $"{Handler} :{Port} {GrpcService}",
        _ => $"{Handler} :{Port}",
    };

    /// <summary>"liveness probe traffic (httpGet :8885/api/health)".</summary>
    public string Traffic => $"{KindName} probe traffic ({Endpoint})";

    /// <summary>What the kubelet does once the probe failed <see cref="FailureThreshold"/> times in a row, probing every <see cref="PeriodSeconds"/>.</summary>
    public string Consequence => string.Create(CultureInfo.InvariantCulture,
        $"the kubelet will {(Kind == ProbeKind.Readiness ? "take this pod out of its Services' endpoints" : $"restart container {Container}")} " +
        $"after {FailureThreshold} failed probes, {PeriodSeconds} s apart");

    /// <summary>The sentence for the log and the pod's Event: "liveness probe traffic (…) from the kubelet is being dropped: CULPRIT. The kubelet will …".</summary>
    public string Sentence(string culprit) => $"{Traffic} from the kubelet is being dropped: {culprit}. {char.ToUpperInvariant(Consequence[0])}{Consequence[1..]}";

    /// <summary>
    /// The probes of a pod spec with the kubelet's defaults (period 10 s, threshold 3, timeout 1 s); a named port is
    /// resolved from the container's ports, and a probe whose port cannot be resolved is left out.
    /// </summary>
    public static IReadOnlyList<PodProbe> Of(V1PodSpec? spec)
    {
        var probes = new List<PodProbe>();
        foreach (var container in spec?.Containers ?? [])
        {
            Add(probes, ProbeKind.Liveness, container, container.LivenessProbe);
            Add(probes, ProbeKind.Readiness, container, container.ReadinessProbe);
            Add(probes, ProbeKind.Startup, container, container.StartupProbe);
        }
        return probes;
    }

    private static void Add(List<PodProbe> probes, ProbeKind kind, V1Container container, V1Probe? probe)
    {
        if (probe is null)
            return;
        var (handler, port, path, host, scheme) = probe switch
        {
            { HttpGet: { } http } => ("httpGet", http.Port?.Value, http.Path, http.Host, http.Scheme ?? "HTTP"),
            { TcpSocket: { } tcp } => ("tcpSocket", tcp.Port?.Value, null, tcp.Host, "TCP"),
            { Grpc: { } grpc } => ("grpc", grpc.Port.ToString(CultureInfo.InvariantCulture), null, null, "gRPC"),
            _ => (null, null, null, null, ""),
        };
        if (handler is null || ResolvePort(port, container) is not { } number)
            return;
        probes.Add(new PodProbe(kind, container.Name, handler, number, path, host, scheme,
                                probe.PeriodSeconds ?? 10, probe.FailureThreshold ?? 3, probe.TimeoutSeconds ?? 1) { GrpcService = probe.Grpc?.Service });
    }

    private static int? ResolvePort(string? text, V1Container container)
    {
        if (string.IsNullOrEmpty(text))
            return null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return number is > 0 and <= 65535 ? number : null;
        return container.Ports?.FirstOrDefault(p => p.Name == text)?.ContainerPort;
    }

    /// <summary>
    /// The probes whose traffic this dropped flow is: TCP between a pod with probes and an address that is not a pod of
    /// this node (the kubelet probes from the node), to the probe's port, or back from it. Empty for anything else.
    /// </summary>
    public static IReadOnlyList<PodProbe> Matching(DropFlow flow, PodSnapshot pods)
    {
        if ((IpProto)flow.L4Protocol != IpProto.IPPROTO_TCP || flow.IsAggregate)
            return [];
        if (pods.Identify(flow.Destination) is { Probes.Count: > 0 } target && pods.Identify(flow.Source) is null)
            return Probing(target, flow.DestinationPort, flow.Destination!);
        if (pods.Identify(flow.Source) is { Probes.Count: > 0 } answering && pods.Identify(flow.Destination) is null)
            return Probing(answering, flow.SourcePort, flow.Source!);
        return [];
    }

    private static List<PodProbe> Probing(PodIdentity pod, int port, System.Net.IPAddress address) =>
        [.. pod.Probes.Where(p => p.Port == port && (p.Host is null || p.Host == address.ToString()))];

    /// <summary>The probe whose failure costs most (liveness, then startup, then readiness): the one a label names.</summary>
    public static PodProbe? MostSevere(IReadOnlyList<PodProbe> probes) => probes.Count == 0 ? null : probes.MinBy(p => p.Kind);
}
