using System.Net;

namespace Tracer.Discovery;

/// <summary>Who a pod is, as Kubernetes knows it; the workload is the owner a person would name (a Deployment, not its ReplicaSet).</summary>
internal sealed record PodIdentity(
    string Namespace,
    string Name,
    string Uid,
    IReadOnlyDictionary<string, string> Labels,
    string? WorkloadKind = null,
    string? WorkloadName = null)
{
    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>A local pod's address (or a pod subnet), its host-side interface when routes name one, and its identity when Kubernetes gave it.</summary>
internal sealed record LocalPod(IPNetwork Network, string? Interface, PodIdentity? Identity);

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

    /// <summary>The pod called NAMESPACE/NAME, if it is on this node.</summary>
    public IReadOnlyList<LocalPod> Named(string @namespace, string name) =>
        [.. Pods.Where(p => p.Identity is { } id && id.Namespace == @namespace && id.Name == name)];
}

/// <summary>Where a trace learns the node's pods; asked again every interval, so pods that come and go are followed.</summary>
internal interface IPodSource
{
    PodSnapshot Current { get; }
}

/// <summary>Pods from the routing table (<see cref="PodRouteDiscovery"/>), reread every few seconds.</summary>
internal sealed class RoutePodSource(TimeSpan refresh) : IPodSource
{
    private PodSnapshot? _current;
    private long _readAt;

    public PodSnapshot Current
    {
        get
        {
            if (_current is null || Environment.TickCount64 - _readAt >= refresh.TotalMilliseconds)
            {
                _current = new PodSnapshot([.. PodRouteDiscovery.Discover().Select(r => new LocalPod(r.Network, r.Interface, null))], "routes");
                _readAt = Environment.TickCount64;
            }
            return _current;
        }
    }
}
