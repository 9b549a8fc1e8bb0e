using System.Net;
using Tracer.Probes;

namespace Tracer.Discovery;

/// <summary>
/// The node's pods at one moment, and where that knowledge came from ("routes", "kubernetes"); <paramref name="identities"/>:
/// every pod Kubernetes names on the node, host-network ones too (they have no address of their own, but run processes).
/// </summary>
internal sealed class PodSnapshot(IReadOnlyList<LocalPod> pods, string origin, IReadOnlyList<PodIdentity>? identities = null)
{
    private readonly Dictionary<IPAddress, LocalPod> _byAddress = pods
        .Where(p => p.Identity is not null)
        .GroupBy(p => p.Network.BaseAddress)
        .ToDictionary(g => g.Key, g => g.First());

    private readonly IReadOnlyList<PodIdentity> _identities = identities ?? [.. pods.Select(p => p.Identity).OfType<PodIdentity>().Distinct()];

    public static readonly PodSnapshot Empty = new([], "none");

    public IReadOnlyList<LocalPod> Pods { get; } = pods;

    public string Origin { get; } = origin;

    /// <summary>The pod with this address (plain IPv4 or IPv6, as flows carry them), if Kubernetes named one.</summary>
    public PodIdentity? Identify(IPAddress? address) =>
        address is not null && _byAddress.TryGetValue(address, out var pod) ? pod.Identity : null;

    /// <summary>The pod a drop concerns: its destination when that is a known pod, else its source.</summary>
    public (PodIdentity Identity, string Side)? Concerned(DropFlow flow) =>
        Identify(flow.Destination) is { } destination ? (destination, "destination")
        : Identify(flow.Source) is { } source ? (source, "source")
        : null;

    /// <summary>The pod called NAMESPACE/NAME, if it is on this node.</summary>
    public IReadOnlyList<LocalPod> Named(string @namespace, string name) =>
        [.. Pods.Where(p => p.Identity is { } id && id.Namespace == @namespace && id.Name == name)];

    /// <summary>The pod with this UID, if Kubernetes named one on this node.</summary>
    public PodIdentity? WithUid(string uid) => _identities.FirstOrDefault(p => p.Uid == uid);

    /// <summary>The pod and container the runtime gave this id, if Kubernetes named one on this node (a static pod's too: its UID is not the API's).</summary>
    public (PodIdentity Pod, PodContainer Container)? WithContainer(string id) =>
        _identities.SelectMany(p => p.Containers.Where(c => c.Id == id).Select(c => (p, c))).FirstOrDefault() is ({ } pod, { } container)
            ? (pod, container)
            : null;
}
