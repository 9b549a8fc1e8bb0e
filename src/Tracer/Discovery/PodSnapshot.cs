using System.Net;
using Tracer.Probes;

namespace Tracer.Discovery;

/// <summary>The node's pods at one moment, and where that knowledge came from ("routes", "kubernetes").</summary>
internal sealed class PodSnapshot(IReadOnlyList<LocalPod> pods, string origin)
{
    private readonly Dictionary<IPAddress, LocalPod> _byAddress = pods
        .Where(p => p.Identity is not null)
        .GroupBy(p => p.Network.BaseAddress)
        .ToDictionary(g => g.Key, g => g.First());

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
}
