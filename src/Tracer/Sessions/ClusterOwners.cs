using System.Text.RegularExpressions;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Sessions;

/// <summary>
/// Checks the owners named from rules — Services, NetworkPolicies, Calico policies — against the Kubernetes API, and
/// adds what it says: that the object exists (or not: the rules are stale), a policy's pod selector, a Service's ready
/// endpoints. Each object is looked up once a minute at most, in the background: an interval's records get what is
/// known when they are reported, and the answer completes the records of later intervals; the trace loop never waits
/// for the API. Lookups are bounded (in flight, and objects remembered).
/// </summary>
internal sealed partial class ClusterOwners(IClusterObjects api, Func<DateTimeOffset> now)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    internal const int MaxObjects = 512;
    internal const int MaxInFlight = 4;
    private static readonly TimeSpan LookupTimeout = TimeSpan.FromSeconds(10);

    private readonly Dictionary<ClusterObjectKey, Lookup> _lookups = [];
    private readonly Lock _gate = new();

    public ClusterOwners(IClusterObjects api)
        : this(api, () => DateTimeOffset.UtcNow)
    {
    }

    /// <param name="Previous">The answer before this lookup: it serves until this one comes.</param>
    private sealed record Lookup(Task<ClusterObject> Answer, DateTimeOffset Started, ClusterObject? Previous)
    {
        public ClusterObject? Latest => Answer.IsCompletedSuccessfully ? Answer.Result : Previous;
    }

    /// <summary>The records, their owners completed from the answers the API already gave; lookups started for the others.</summary>
    public IReadOnlyList<DropRecord> Complete(IReadOnlyList<DropRecord> records)
    {
        if (!records.Any(r => r.Culprit?.Owner is { } owner && KeyOf(owner) is not null))
            return records; // the common case costs one pass, no copy
        return [.. records.Select(r => r.Culprit is { Owner: { } owner } culprit && KeyOf(owner) is { } key && Answer(key) is { } answer
            ? r with { Culprit = culprit with { Owner = With(owner, key, answer) } }
            : r)];
    }

    /// <summary>For a one-off report (diagnose): looks up the records' owners, waits for the answers at most <paramref name="timeout"/>, then completes them.</summary>
    public async Task<IReadOnlyList<DropRecord>> CompleteAsync(IReadOnlyList<DropRecord> records, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var pending = records.Select(r => r.Culprit?.Owner is { } owner ? KeyOf(owner) : null).OfType<ClusterObjectKey>().Distinct()
            .Select(key => { Answer(key); return Started(key); }).OfType<Task>().ToList();
        // What answered in time is used; a lookup that failed or is still running leaves its owners as the rules named them.
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        return Complete(records);
    }

    private Task<ClusterObject>? Started(ClusterObjectKey key)
    {
        lock (_gate)
            return _lookups.GetValueOrDefault(key)?.Answer;
    }

    /// <summary>The API's answer if it came and is fresh; otherwise starts the lookup (when within bounds) and returns null.</summary>
    private ClusterObject? Answer(ClusterObjectKey key)
    {
        lock (_gate)
        {
            var time = now();
            if (_lookups.TryGetValue(key, out var lookup) && time - lookup.Started < Lifetime)
                return lookup.Latest;
            if (_lookups.Values.Count(l => !l.Answer.IsCompleted) >= MaxInFlight)
                return lookup?.Latest; // the last answer until the API has room
            if (_lookups.Count >= MaxObjects)
            {
                foreach (var expired in _lookups.Where(l => time - l.Value.Started >= Lifetime && l.Value.Answer.IsCompleted).Select(l => l.Key).ToList())
                    _lookups.Remove(expired);
                if (_lookups.Count >= MaxObjects)
                    return null;
            }
            _lookups[key] = new Lookup(LookUpAsync(key), time, lookup?.Latest);
            return lookup?.Latest;
        }
    }

    private async Task<ClusterObject> LookUpAsync(ClusterObjectKey key)
    {
        // The client's requests are asynchronous: the trace loop goes on at the first one.
        using var timeout = new CancellationTokenSource(LookupTimeout);
        return await api.GetAsync(key, timeout.Token).ConfigureAwait(false);
    }

    [GeneratedRegex("^(?<ns>[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)/(?<name>[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)(?::[-a-z0-9]*)?$")]
    private static partial Regex NamespacedName();

    [GeneratedRegex("^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$")]
    private static partial Regex ClusterName();

    /// <summary>The one object an owner names (a Service port's Service), or null: other kinds, and a list of policies.</summary>
    internal static ClusterObjectKey? KeyOf(CulpritOwner owner)
    {
        var kind = owner.Kind switch
        {
            OwnerKind.Service => ClusterObjectKind.Service,
            OwnerKind.NetworkPolicy => ClusterObjectKind.NetworkPolicy,
            OwnerKind.CalicoPolicy => ClusterObjectKind.CalicoPolicy,
            OwnerKind.CalicoGlobalPolicy => ClusterObjectKind.CalicoGlobalPolicy,
            _ => (ClusterObjectKind?)null,
        };
        if (kind is null)
            return null;
        if (kind == ClusterObjectKind.CalicoGlobalPolicy)
            return ClusterName().IsMatch(owner.Name) ? new ClusterObjectKey(kind.Value, null, owner.Name) : null;
        if (NamespacedName().Match(owner.Name) is not { Success: true } named || named.Groups["ns"].Value != owner.Namespace
            || (kind != ClusterObjectKind.Service && owner.Name.Contains(':', StringComparison.Ordinal)))
            return null;
        return new ClusterObjectKey(kind.Value, owner.Namespace, named.Groups["name"].Value);
    }

    /// <summary>The owner with what the API said, as evidence (and the pod selector); the rules' reading is left as it is.</summary>
    internal static CulpritOwner With(CulpritOwner owner, ClusterObjectKey key, ClusterObject answer)
    {
        var what = key.Kind switch
        {
            ClusterObjectKind.Service => "Service",
            ClusterObjectKind.NetworkPolicy => "NetworkPolicy",
            ClusterObjectKind.CalicoPolicy => "Calico NetworkPolicy",
            _ => "Calico GlobalNetworkPolicy",
        };
        if (!answer.Exists)
            return owner with
            {
                Evidence = [.. owner.Evidence, $"the Kubernetes API has no {what} {key} ({answer.Api}): the rules are stale, left for an object since deleted"],
            };
        var evidence = new List<string>(owner.Evidence);
        string? selector = null;
        switch (key.Kind)
        {
            case ClusterObjectKind.Service:
                evidence.Add($"{what} {key} exists in the API ({answer.Api})");
                if (answer.Endpoints is { } endpoints)
                    evidence.Add(Endpoints(owner, key, endpoints));
                break;
            case ClusterObjectKind.NetworkPolicy:
                selector = answer.PodSelector ?? "";
                evidence.Add($"{what} {key} exists in the API ({answer.Api}): podSelector " +
                             (selector.Length == 0 ? $"{{}} (every pod of namespace {key.Namespace})" : selector));
                break;
            default:
                selector = answer.PodSelector;
                evidence.Add($"{what} {key} exists in the API ({answer.Api}): selector {selector}");
                break;
        }
        return owner with { Evidence = evidence, PodSelector = selector ?? owner.PodSelector };
    }

    /// <summary>The Service's ready endpoints, and whether they bear out the rules' "has no ready endpoints".</summary>
    private static string Endpoints(CulpritOwner owner, ClusterObjectKey key, ServiceEndpoints endpoints)
    {
        var counted = $"its EndpointSlices (kubernetes.io/service-name={key.Name}) hold {endpoints.Ready} ready endpoints of {endpoints.Total}";
        if (owner.Summary.Contains("has no ready endpoints on this node", StringComparison.Ordinal))
            return counted + (endpoints.ReadyOnNode == 0
                ? ", none on this node: this confirms the rules"
                : $", {endpoints.ReadyOnNode} on this node: this contradicts the rules (kube-proxy's rules lag behind the API)");
        if (owner.Summary.Contains("has no ready endpoints", StringComparison.Ordinal))
            return counted + (endpoints.Ready == 0
                ? ": this confirms the rules"
                : ": this contradicts the rules (kube-proxy's rules lag behind the API)");
        return counted;
    }
}
