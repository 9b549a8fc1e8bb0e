using Tracer.Discovery;
using Tracer.Records;
using Tracer.Sessions;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Sessions;

/// <summary>
/// Owners named from rules checked against the Kubernetes API: what is added, what is left as the rules said it, and
/// the lookups — once per object for a minute, in the background, bounded. The API is replaced by a stub here (no API
/// server runs on these machines; the daemon's kernel test reads a fake one over HTTP).
/// </summary>
[UnitTest]
public sealed class ClusterOwnersTests
{
    private static readonly ClusterObjectKey WebService = new(ClusterObjectKind.Service, "shop", "web");
    private static readonly ClusterObjectKey AllowWeb = new(ClusterObjectKind.NetworkPolicy, "shop", "allow-web");

    private DateTimeOffset _now = DateTimeOffset.UnixEpoch;
    private readonly ApiStub _api = new();

    private ClusterOwners Owners() => new(_api, () => _now);

    private static CulpritOwner NoEndpoints(string service = "shop/web:http") => new()
    {
        Kind = OwnerKind.Service, Name = service, Namespace = service.Split('/')[0], Confidence = CulpritConfidence.Exact,
        Summary = $"Service {service} has no ready endpoints", Evidence = ["comment \"shop/web:http has no endpoints\" on rule handle 12"],
    };

    private static CulpritOwner Policy(OwnerKind kind, string name, string? ns) => new()
    {
        Kind = kind, Name = name, Namespace = ns, Confidence = CulpritConfidence.Inferred, Summary = $"policy {name}",
    };

    private static DropRecord Record(CulpritOwner owner) => new(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, "NETFILTER_DROP", null, 1, 64, null,
        new Culprit { Kind = CulpritKind.NftablesRule, Confidence = CulpritConfidence.Exact, Summary = "dropped", Owner = owner });

    private async Task<CulpritOwner> Checked(CulpritOwner owner)
    {
        var records = await Owners().CompleteAsync([Record(owner)], TimeSpan.FromSeconds(30), CancellationToken.None);
        return Assert.Single(records).Culprit!.Owner!;
    }

    [Fact]
    public async Task AServiceWithNoReadyEndpointSlicesConfirmsTheRules()
    {
        _api.Objects[WebService] = new ClusterObject(true, "core/v1", Endpoints: new ServiceEndpoints(Total: 2, Ready: 0, ReadyOnNode: 0));

        var owner = await Checked(NoEndpoints());

        Assert.Equal("Service shop/web:http has no ready endpoints", owner.Summary);
        Assert.Contains("Service shop/web exists in the API (core/v1)", owner.Evidence);
        Assert.Contains("its EndpointSlices (kubernetes.io/service-name=web) hold 0 ready endpoints of 2: this confirms the rules", owner.Evidence);
        Assert.Null(owner.PodSelector);
    }

    [Fact]
    public async Task ReadyEndpointsContradictTheRules_WhichStayAsTheyWere()
    {
        _api.Objects[WebService] = new ClusterObject(true, "core/v1", Endpoints: new ServiceEndpoints(3, 3, 1));

        var owner = await Checked(NoEndpoints());

        Assert.Equal("Service shop/web:http has no ready endpoints", owner.Summary);
        Assert.Contains(owner.Evidence, e => e.StartsWith("its EndpointSlices (kubernetes.io/service-name=web) hold 3 ready endpoints of 3: this contradicts the rules", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NoLocalEndpointsAreCheckedAgainstThisNodesEndpoints()
    {
        _api.Objects[WebService] = new ClusterObject(true, "core/v1", Endpoints: new ServiceEndpoints(2, 2, 0));
        var local = NoEndpoints() with { Summary = "Service shop/web:http has no ready endpoints on this node (externalTrafficPolicy: Local)" };

        var owner = await Checked(local);

        Assert.Contains("its EndpointSlices (kubernetes.io/service-name=web) hold 2 ready endpoints of 2, none on this node: this confirms the rules", owner.Evidence);
    }

    [Fact]
    public async Task AnObjectTheApiDoesNotHaveMakesTheRulesStale()
    {
        var owner = await Checked(NoEndpoints());

        Assert.Contains("the Kubernetes API has no Service shop/web (core/v1): the rules are stale, left for an object since deleted", owner.Evidence);
        Assert.Equal("Service shop/web:http has no ready endpoints", owner.Summary);
    }

    [Fact]
    public async Task APolicysPodSelectorIsAdded()
    {
        _api.Objects[AllowWeb] = new ClusterObject(true, "networking.k8s.io/v1", "app=web");
        _api.Objects[new ClusterObjectKey(ClusterObjectKind.NetworkPolicy, "shop", "default-deny")] = new ClusterObject(true, "networking.k8s.io/v1", "");
        _api.Objects[new ClusterObjectKey(ClusterObjectKind.CalicoGlobalPolicy, null, "default.deny-all")] = new ClusterObject(true, "projectcalico.org/v3", "all()");

        var policy = await Checked(Policy(OwnerKind.NetworkPolicy, "shop/allow-web", "shop"));
        var everyPod = await Checked(Policy(OwnerKind.NetworkPolicy, "shop/default-deny", "shop"));
        var global = await Checked(Policy(OwnerKind.CalicoGlobalPolicy, "default.deny-all", null));

        Assert.Equal("app=web", policy.PodSelector);
        Assert.Contains("NetworkPolicy shop/allow-web exists in the API (networking.k8s.io/v1): podSelector app=web", policy.Evidence);
        Assert.Equal("", everyPod.PodSelector);
        Assert.Contains("NetworkPolicy shop/default-deny exists in the API (networking.k8s.io/v1): podSelector {} (every pod of namespace shop)", everyPod.Evidence);
        Assert.Equal("all()", global.PodSelector);
        Assert.Contains("Calico GlobalNetworkPolicy default.deny-all exists in the API (projectcalico.org/v3): selector all()", global.Evidence);
    }

    [Theory]
    [InlineData(nameof(OwnerKind.Service), "shop/web:http", "shop", "Service shop/web")]
    [InlineData(nameof(OwnerKind.Service), "shop/web", "shop", "Service shop/web")]
    [InlineData(nameof(OwnerKind.NetworkPolicy), "shop/allow-web", "shop", "NetworkPolicy shop/allow-web")]
    [InlineData(nameof(OwnerKind.CalicoPolicy), "shop/default.deny", "shop", "CalicoPolicy shop/default.deny")]
    [InlineData(nameof(OwnerKind.CalicoGlobalPolicy), "default.deny-all", null, "CalicoGlobalPolicy default.deny-all")]
    public void TheOneObjectAnOwnerNamesIsLookedUp(string kind, string name, string? ns, string expected)
    {
        var key = ClusterOwners.KeyOf(Policy(Enum.Parse<OwnerKind>(kind), name, ns));

        Assert.NotNull(key);
        Assert.Equal(expected, $"{key.Kind} {key}");
    }

    [Theory]
    [InlineData(nameof(OwnerKind.KubeProxy), "kube-proxy", null)] // kube-proxy itself: no object
    [InlineData(nameof(OwnerKind.CalicoProfile), "kns.shop", "shop")] // a profile Calico derives from the namespace
    [InlineData(nameof(OwnerKind.NetworkPolicy), "shop/allow-web, shop/allow-dns", "shop")] // the policies a workload chain applies: not one object
    [InlineData(nameof(OwnerKind.NetworkPolicy), "shop/allow-web:http", "shop")] // a port belongs to Services only
    [InlineData(nameof(OwnerKind.Service), "shop/web:http", "other")] // a name that disagrees with the namespace
    [InlineData(nameof(OwnerKind.CalicoGlobalPolicy), "shop/x", null)]
    public void OwnersThatNameNoOneObjectAreNotLookedUp(string kind, string name, string? ns) =>
        Assert.Null(ClusterOwners.KeyOf(Policy(Enum.Parse<OwnerKind>(kind), name, ns)));

    [Fact]
    public async Task TheTraceLoopDoesNotWaitForTheApi_TheAnswerCompletesLaterRecords_OneLookupAMinute()
    {
        _api.Objects[WebService] = new ClusterObject(true, "core/v1", Endpoints: new ServiceEndpoints(0, 0, 0));
        _api.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var owners = Owners();
        IReadOnlyList<DropRecord> interval = [Record(NoEndpoints()), Record(NoEndpoints())];

        // The API has not answered: the records go out as the rules named them.
        Assert.All(owners.Complete(interval), r => Assert.Single(r.Culprit!.Owner!.Evidence));
        Assert.All(owners.Complete(interval), r => Assert.Single(r.Culprit!.Owner!.Evidence));

        _api.Gate.SetResult();
        await owners.CompleteAsync(interval, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.All(owners.Complete(interval), r => Assert.Contains("Service shop/web exists in the API (core/v1)", r.Culprit!.Owner!.Evidence));
        Assert.Equal([WebService], _api.Asked);

        // A minute on, it is asked again; the last answer serves meanwhile.
        _now += ClusterOwners.Lifetime;
        _api.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.All(owners.Complete(interval), r => Assert.Contains("Service shop/web exists in the API (core/v1)", r.Culprit!.Owner!.Evidence));
        Assert.Equal([WebService, WebService], _api.Asked);
        _api.Gate.SetResult();
    }

    [Fact]
    public void ASlowApiHasABoundedNumberOfLookupsInFlight()
    {
        _api.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var owners = Owners();
        IReadOnlyList<DropRecord> many = [.. Enumerable.Range(0, 3 * ClusterOwners.MaxInFlight).Select(i => Record(NoEndpoints($"shop/web-{i}:http")))];

        owners.Complete(many);
        var again = owners.Complete(many);

        Assert.All(again, r => Assert.Single(r.Culprit!.Owner!.Evidence));
        Assert.Equal(ClusterOwners.MaxInFlight, _api.Asked.Count);
        _api.Gate.SetResult();
    }

    [Fact]
    public async Task AnApiThatFailsLeavesTheOwnerAsTheRulesNamedIt()
    {
        _api.Failure = new HttpRequestException("connection refused");

        var owner = await Checked(NoEndpoints());

        Assert.Equal(NoEndpoints().Evidence, owner.Evidence);
    }

    private sealed class ApiStub : IClusterObjects
    {
        public Dictionary<ClusterObjectKey, ClusterObject> Objects { get; } = [];
        public List<ClusterObjectKey> Asked { get; } = [];
        public TaskCompletionSource? Gate { get; set; }
        public Exception? Failure { get; set; }

        public async Task<ClusterObject> GetAsync(ClusterObjectKey key, CancellationToken cancellationToken)
        {
            lock (Asked)
                Asked.Add(key);
            if (Gate is { } gate)
                await gate.Task.WaitAsync(cancellationToken);
            if (Failure is { } failure)
                throw failure;
            return Objects.GetValueOrDefault(key) ?? new ClusterObject(false, key.Kind == ClusterObjectKind.Service ? "core/v1" : "networking.k8s.io/v1");
        }
    }
}
