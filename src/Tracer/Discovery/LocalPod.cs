using System.Net;

namespace Tracer.Discovery;

/// <summary>
/// Who a pod is, as Kubernetes knows it; the workload is the owner a person would name (a Deployment, not its
/// ReplicaSet); its containers' probes, which the kubelet sends from the node.
/// </summary>
internal sealed record PodIdentity(
    string Namespace,
    string Name,
    string Uid,
    IReadOnlyDictionary<string, string> Labels,
    string? WorkloadKind = null,
    string? WorkloadName = null)
{
    public IReadOnlyList<PodProbe> Probes { get; init; } = [];

    /// <summary>Its containers that have started, with the runtime's id of each (status.containerStatuses).</summary>
    public IReadOnlyList<PodContainer> Containers { get; init; } = [];

    /// <summary>As a person names it: "DaemonSet security/edr-agent"; null for a pod no controller owns.</summary>
    public string? Workload => WorkloadKind is null ? null : $"{WorkloadKind} {Namespace}/{WorkloadName}";

    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>A container of a pod: its name in the pod's spec, and the id its runtime gave it (without "containerd://").</summary>
internal sealed record PodContainer(string Name, string Id);

/// <summary>A local pod's address (or a pod subnet), its host-side interface when routes name one, and its identity when Kubernetes gave it.</summary>
internal sealed record LocalPod(IPNetwork Network, string? Interface, PodIdentity? Identity);
