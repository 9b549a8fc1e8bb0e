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

    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>A local pod's address (or a pod subnet), its host-side interface when routes name one, and its identity when Kubernetes gave it.</summary>
internal sealed record LocalPod(IPNetwork Network, string? Interface, PodIdentity? Identity);
