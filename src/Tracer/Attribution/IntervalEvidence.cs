using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// Everything one interval offers to name its drops' culprits: the drops, and what the other probes and the
/// node said about them. Gathered once by <see cref="AttributionPipeline.Gather"/>, then only read, so every
/// culprit of the interval is named from the same facts and the attributor needs no call order.
/// </summary>
internal sealed record IntervalEvidence(DropInterval Drops, NodeAnswers Node)
{
    private static readonly Dictionary<DropFlow, ulong> NoVerdicts = [];

    /// <summary>The kernel stack of a sample (by its stack id).</summary>
    public Func<int, ulong[]> ReadStack { get; init; } = _ => [];

    /// <summary>The netfilter hook tables: what is registered at each hook point, in priority order.</summary>
    public IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> HookTables { get; init; } = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>();

    /// <summary>Hook points of netfilter drops, from their kernel stacks (<see cref="HookInference"/>).</summary>
    public IReadOnlyDictionary<DropFlow, (HookPoint Point, string Caller)> HookHints { get; init; } = new Dictionary<DropFlow, (HookPoint, string)>();

    /// <summary>Hook functions seen returning NF_DROP, per flow (the exact tier's samples): evidence of their own flow only.</summary>
    public IReadOnlyDictionary<DropFlow, ulong> ExactVerdicts { get; init; } = NoVerdicts;

    /// <summary>How the exact tier observed a hook function ("fexit", "kprobes").</summary>
    public Func<ulong, string?> VerdictMethod { get; init; } = _ => null;

    /// <summary>SELinux denials that came just before sampled drops, per flow.</summary>
    public IReadOnlyDictionary<DropFlow, SelinuxDenial> SelinuxDenials { get; init; } = new Dictionary<DropFlow, SelinuxDenial>();

    /// <summary>nftables' verdicts per network namespace, where Tracer runs its trace.</summary>
    public IReadOnlyDictionary<uint, NftablesTrace> Nftables { get; init; } = new Dictionary<uint, NftablesTrace>();

    /// <summary>Tracer's own network namespace: the one whose devices it can inspect.</summary>
    public uint OwnNetns { get; init; }

    public (HookPoint Point, string Caller)? HintFor(DropFlow flow) => FlowIndex.TryFind(HookHints, flow, out var hint) ? hint : null;
}
