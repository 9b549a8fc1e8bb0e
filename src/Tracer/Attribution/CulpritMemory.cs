using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Netfilter culprits that evidence named (exact, bracketed), remembered so that the drops after
/// Tracer's observers are released still name them: by the flow without its client's port, else by the
/// flow's aggregate (its watched address, protocol, reason, location and namespace) when exactly one
/// culprit was named there. A memory lasts <see cref="RememberFor"/> from the evidence that last
/// confirmed it; after that the drops are unexplained again, which re-arms the observers to confirm it.
/// </summary>
internal sealed class CulpritMemory
{
    public static readonly TimeSpan RememberFor = TimeSpan.FromMinutes(5);

    // A scan bracketed by sentinels names thousands of flows a second: past this, only aggregates are remembered.
    private const int MaxFlows = 16384;

    private readonly Dictionary<DropFlow, (Culprit Culprit, DateTimeOffset At)> _byFlow = [];
    // null: several culprits were named for this aggregate; none of them is recalled.
    private readonly Dictionary<DropFlow, (Culprit? Culprit, DateTimeOffset At)> _byAggregate = [];

    /// <summary>What a flow is remembered by: no netfilter trail (sentinels come and go), no client port.</summary>
    private static DropFlow Identity(DropFlow flow) => flow with { NetfilterHook = 0, NetfilterFamily = 0, SentinelsPassed = 0, SourcePort = 0 };

    private static IEnumerable<DropFlow> Aggregates(DropFlow flow) =>
        flow.IsAggregate ? [Identity(flow)] : [Identity(flow.Coarse(sourceWatched: false)), Identity(flow.Coarse(sourceWatched: true))];

    public void Remember(DropFlow flow, Culprit culprit, DateTimeOffset now)
    {
        if (!flow.IsAggregate && (_byFlow.Count < MaxFlows || _byFlow.ContainsKey(Identity(flow))))
            _byFlow[Identity(flow)] = (culprit, now);
        foreach (var aggregate in Aggregates(flow))
        {
            if (!_byAggregate.TryGetValue(aggregate, out var known) || known.Culprit is { } earlier && earlier.Identity == culprit.Identity)
                _byAggregate[aggregate] = (culprit, now);
            else if (known.Culprit is not null)
                _byAggregate[aggregate] = (null, now); // ambiguous from now until it expires: then relearned
        }
    }

    /// <summary>The culprit remembered for this drop, its evidence saying so; null when none is (or it is too old).</summary>
    public Culprit? Recall(DropFlow flow, IReadOnlyList<string> evidence)
    {
        if (!flow.IsAggregate && _byFlow.TryGetValue(Identity(flow), out var remembered))
            return Recalled(remembered.Culprit, remembered.At, "this flow", remembered.Culprit.Confidence, evidence);
        foreach (var aggregate in Aggregates(flow))
        {
            if (_byAggregate.TryGetValue(aggregate, out var shared) && shared.Culprit is { } culprit)
                return Recalled(culprit, shared.At, "other flows of this address, protocol and drop site", CulpritConfidence.Inferred, evidence);
        }
        return null;
    }

    private static Culprit Recalled(Culprit culprit, DateTimeOffset at, string whose, CulpritConfidence confidence, IReadOnlyList<string> evidence) => culprit with
    {
        Confidence = confidence,
        Evidence = [.. evidence, $"named at {at:HH:mm:ss} ({culprit.Confidence.WireName()}) for {whose}: " +
                                 string.Join("; ", culprit.Evidence.Where(e => !e.StartsWith("reason ", StringComparison.Ordinal) &&
                                                                               !e.StartsWith("freed at ", StringComparison.Ordinal)))],
    };

    /// <summary>Forgets what evidence has not confirmed for <see cref="RememberFor"/>.</summary>
    public void Expire(DateTimeOffset now)
    {
        foreach (var (flow, entry) in _byFlow.Where(e => now - e.Value.At > RememberFor).ToList())
            _byFlow.Remove(flow);
        foreach (var (aggregate, entry) in _byAggregate.Where(e => now - e.Value.At > RememberFor).ToList())
            _byAggregate.Remove(aggregate);
    }
}
