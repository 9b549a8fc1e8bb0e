namespace Tracer.Discovery;

/// <summary>The Kubernetes objects an owner named from rules can be checked against.</summary>
internal enum ClusterObjectKind
{
    Service,
    NetworkPolicy,
    CalicoPolicy,
    CalicoGlobalPolicy,
}

/// <summary>One object: <paramref name="Namespace"/> is null for a cluster-scoped one (a Calico GlobalNetworkPolicy).</summary>
internal sealed record ClusterObjectKey(ClusterObjectKind Kind, string? Namespace, string Name)
{
    public override string ToString() => Namespace is null ? Name : $"{Namespace}/{Name}";
}

/// <summary>
/// What the API says of one object. <paramref name="Api"/>: the group/version it was read from ("core/v1",
/// "projectcalico.org/v3"); <paramref name="PodSelector"/>: a policy's, in kubectl's selector syntax (Calico's as
/// written); <paramref name="Endpoints"/>: a Service's endpoints in its EndpointSlices.
/// </summary>
internal sealed record ClusterObject(bool Exists, string Api, string? PodSelector = null, ServiceEndpoints? Endpoints = null);

/// <summary>A Service's endpoints over all its EndpointSlices: those ready, and those ready on this node.</summary>
internal sealed record ServiceEndpoints(int Total, int Ready, int ReadyOnNode);

/// <summary>Reads Services, NetworkPolicies and Calico policies from the Kubernetes API (replaced in tests).</summary>
internal interface IClusterObjects
{
    /// <summary>The object as the API has it, or one that does not exist; throws when the API does not answer.</summary>
    Task<ClusterObject> GetAsync(ClusterObjectKey key, CancellationToken cancellationToken);
}
