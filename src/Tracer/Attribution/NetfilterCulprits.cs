using System.Text.RegularExpressions;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Culprits named by netfilter's evidence: observed hook verdicts (exact), the sentinels' bracket around a hook
/// (bracketed), nftables' own trace of the verdict (the rule), iptables-legacy counters, and the hook tables
/// with the drop's location and stack (inferred).
/// </summary>
internal sealed partial class NetfilterCulprits(KernelSymbols symbols)
{
    private static readonly HashSet<string> IptablesTables = ["filter", "nat", "mangle", "raw", "security"];

    /// <summary>The exact tier saw a hook function return NF_DROP for this very flow; null when it did not.</summary>
    public Culprit? Observed(IntervalEvidence seen, DropFlow flow, List<string> evidence) =>
        flow.SentinelsPassed == DropEvent.TRACER_NF_EXACT && seen.ExactVerdicts.TryGetValue(flow, out var function)
            ? ExactHook(seen, flow, function, evidence)
            : null;

    /// <summary>The foreign hooks between the last sentinel the packet passed and the next one; null without a bracket.</summary>
    public Culprit? Bracketed(IntervalEvidence seen, DropFlow flow, List<string> evidence)
    {
        if (flow.HookPoint is not { } point || !seen.HookTables.TryGetValue(point, out var entries))
            return null;
        var passed = flow.SentinelsPassed;
        var sentinels = entries.Select((e, i) => (e, i)).Where(x => x.e.IsSentinel).Select(x => x.i).ToList();
        if (passed < 1 || passed > sentinels.Count)
            return null;
        var from = sentinels[passed - 1] + 1;
        var to = passed < sentinels.Count ? sentinels[passed] : entries.Count;
        var candidates = entries.Skip(from).Take(to - from).Where(e => !e.IsOwn).ToList();
        if (candidates.Count == 0)
            return null;

        var low = entries[from - 1].Priority;
        evidence.Add($"passed sentinel {passed} of {sentinels.Count} at {point.FamilyName} {point.HookName} (priority {low}), not the next");
        var confidence = candidates.Count == 1 ? CulpritConfidence.Bracketed : CulpritConfidence.Inferred;
        if (candidates.Count > 1)
            evidence.Add("hooks in that bracket: " + string.Join(", ", candidates.Select(c => $"{Describe(c)} (priority {c.Priority})")));
        return FromHook(seen, candidates[0], point, evidence, confidence);
    }

    /// <summary>
    /// nftables' trace saw the verdict of this flow's drop: the rule (or policy), when it fits what else is known —
    /// the bracket's table, or without a bracket a drop freed by nftables itself or by the hook loop.
    /// </summary>
    public Culprit? FromTrace(IntervalEvidence seen, DropFlow flow, KernelSymbol? location, Culprit? bracketed, List<string> evidence)
    {
        if (!seen.Nftables.TryGetValue(flow.Netns, out var nftables) || nftables.VerdictFor(flow) is not { } verdict)
            return null;
        // A queue verdict explains only a drop where queued packets are freed; a drop elsewhere came after the queue accepted it.
        var queueDrop = FreesQueued(location);
        if ((verdict.Queue is not null) != queueDrop)
            return null;
        // The bracket names the base chain the hook runs; the verdict may come from a chain it jumped to (KUBE-SERVICES
        // from FORWARD), and a table's other chains run only from its base chains.
        var sameTable = bracketed?.Table == verdict.Table;
        var fits = queueDrop || (bracketed is null
            ? location?.Name is { } freedIn && (freedIn.StartsWith("nft_", StringComparison.Ordinal) || freedIn == "nf_hook_slow")
            : sameTable);
        if (!fits)
            return null;
        var at = bracketed is { Hook: { } hook } && sameTable ? (hook, bracketed.Priority) : ChainAt(seen, flow, verdict);
        var rule = nftables.RuleText(verdict);
        return verdict.Queue is { } queue
            ? Queued(verdict, queue, rule, at, FreedByListener(location), evidence)
            : FromVerdict(flow, verdict, rule, at, evidence);
    }

    /// <summary>
    /// Where the kernel frees a queued packet that its listener's verdict (NF_DROP) drops: nf_reinject, inlined into
    /// nfqnl_reinject on 6.18. Without a drop reason (NOT_SPECIFIED), as <see cref="QueueFailureFunctions"/>.
    /// </summary>
    private static readonly HashSet<string> QueueVerdictFunctions = ["nf_reinject", "nfqnl_reinject", "nfqnl_recv_verdict", "nfqnl_recv_verdict_batch"];

    /// <summary>Where the kernel frees a packet it could not queue (no listener on the queue, and no bypass).</summary>
    private static readonly HashSet<string> QueueFailureFunctions = ["nf_queue", "__nf_queue"];

    /// <summary>
    /// Whether the drop's location is where a queue's listener's verdict frees its packets: in the listener's own sendmsg,
    /// so the kernel stack names no hook point and the sentinels' trail is another packet's.
    /// </summary>
    public static bool FreedByListener(KernelSymbol? location) => location?.Name is { } name && QueueVerdictFunctions.Contains(name);

    /// <summary>Whether the drop's location is where NFQUEUE's packets die: by their listener's verdict, or for want of one.</summary>
    public static bool FreesQueued(KernelSymbol? location) =>
        location?.Name is { } name && (QueueVerdictFunctions.Contains(name) || QueueFailureFunctions.Contains(name));

    /// <summary>
    /// A rule handed the packet to NFQUEUE <paramref name="queue"/>, and the kernel freed it where a queue's packets die:
    /// by its listener's verdict, or because nobody listens (and the rule has no bypass). The rule names no policy: the
    /// listener decides (kube-network-policies and other user-space NetworkPolicy controllers); its owner names the process.
    /// </summary>
    private static Culprit Queued(NftVerdict verdict, ushort queue, string? rule, (string Hook, int? Priority)? at, bool byListener, List<string> evidence)
    {
        var text = rule is null ? $"handle {verdict.Handle}" : $"\"{rule}\" (handle {verdict.Handle})";
        evidence.Add($"nftrace: verdict queue {queue} by rule handle {verdict.Handle} of chain {verdict.Family} {verdict.Table} {verdict.Chain}");
        var where = at is var (hook, priority) ? $" at {hook} priority {priority}" : "";
        return new Culprit
        {
            Kind = CulpritKind.NetfilterHook, Confidence = CulpritConfidence.Exact, Evidence = evidence,
            Family = verdict.Family, Hook = at?.Hook, Priority = at?.Priority,
            Table = verdict.Table, Chain = verdict.Chain, Handle = verdict.Handle, Rule = rule, Queue = queue,
            Summary = byListener
                ? $"dropped{where} by the user-space verdict of NFQUEUE {queue}, where rule {text} in chain {verdict.Chain} of table {verdict.Family} {verdict.Table} sent it"
                : $"dropped{where}: NFQUEUE {queue} has no listener, and rule {text} in chain {verdict.Chain} of table {verdict.Family} {verdict.Table} sent it there without bypass",
        };
    }

    /// <summary>
    /// No sentinel or verdict saw the drop: the location says which kind of hook, and the stack which hook
    /// point; where that point has only one foreign hook registered, it is the one (inferred).
    /// </summary>
    public Culprit ByLocation(IntervalEvidence seen, DropFlow flow, KernelSymbol? location, List<string> evidence)
    {
        var culprit = ByFunction(location?.Name ?? "", evidence);
        if (seen.HintFor(flow) is not { } h)
            return culprit;
        evidence.Add($"hook point from the kernel stack: {h.Caller} → {h.Point.FamilyName} {h.Point.HookName}");
        var foreign = seen.HookTables.TryGetValue(h.Point, out var entries) ? entries.Where(e => !e.IsOwn).ToList() : [];
        // nftables freed it itself: one of the point's nftables chains, and where there is one, that chain.
        var chains = foreign.Where(e => e.Kind == hook_entry_kind.HOOK_ENTRY_NFTABLES).ToList();
        if (culprit.Kind == CulpritKind.NftablesRule && chains.Count == 1)
        {
            evidence.Add($"the only nftables chain registered at {h.Point.HookName}: {Describe(chains[0])} (priority {chains[0].Priority})");
            return FromHook(seen, chains[0], h.Point, evidence, CulpritConfidence.Inferred);
        }
        if (foreign.Count == 1 && culprit.Kind == CulpritKind.NetfilterHook)
        {
            evidence.Add($"the only foreign hook registered at {h.Point.HookName}: {Describe(foreign[0])} (priority {foreign[0].Priority})");
            return FromHook(seen, foreign[0], h.Point, evidence, CulpritConfidence.Inferred);
        }
        if (foreign.Count > 1)
            evidence.Add($"hooks registered at {h.Point.HookName}: " + string.Join(", ", foreign.Select(e => $"{Describe(e)} (priority {e.Priority})")));
        return culprit with { Family = h.Point.FamilyName, Hook = h.Point.HookName, Summary = $"{culprit.Summary} (at {h.Point.HookName})" };
    }

    /// <summary>
    /// The exact tier observed this hook function return NF_DROP for the packet. Its hook point is the
    /// sentinels' or, without them, the one hook point of the drop's namespace that runs the function.
    /// </summary>
    private Culprit ExactHook(IntervalEvidence seen, DropFlow flow, ulong function, List<string> evidence)
    {
        // A function may serve several hook points (selinux_ip_postroute: IPv4 and IPv6): the sentinels' point,
        // else the one the kernel stack names, else the flow's family narrows them.
        var point = flow.HookPoint ?? seen.HintFor(flow)?.Point;
        var family = HookPoint.FamilyOf(flow);
        var registered = seen.HookTables
            .Where(t => t.Key.Netns == flow.Netns && (point is { } p ? t.Key == p : t.Key.Family == family))
            .SelectMany(t => t.Value.Where(e => e.Function == function).Select(e => (Point: t.Key, Entry: e)))
            .ToList();
        evidence.Add($"observed {symbols.Describe(function)} return NF_DROP for the packet ({seen.VerdictMethod(function) ?? "fexit/kprobes"})");
        if (registered.Count == 1)
            return FromHook(seen, registered[0].Entry, registered[0].Point, evidence, CulpritConfidence.Exact);
        var hook = new HookEntry(0, function, hook_entry_kind.HOOK_ENTRY_FUNCTION, 0, "", "", false, false);
        return FromHook(seen, hook, null, evidence, CulpritConfidence.Exact);
    }

    /// <summary>The culprit a registered hook makes; <paramref name="point"/> null when its hook point is not known.</summary>
    private Culprit FromHook(IntervalEvidence seen, HookEntry hook, HookPoint? point, List<string> evidence, CulpritConfidence confidence)
    {
        var where = point is { } at ? $" at {at.HookName} priority {hook.Priority}" : "";
        var (family, hookName, priority) = point is { } p ? (p.FamilyName, p.HookName, (int?)hook.Priority) : (null, null, null);
        switch (hook.Kind)
        {
            case hook_entry_kind.HOOK_ENTRY_BPF:
                return new Culprit
                {
                    Kind = CulpritKind.BpfProgram, Confidence = confidence, Evidence = evidence,
                    Family = family, Hook = hookName, Priority = priority,
                    ProgramId = hook.BpfProgramId, ProgramName = hook.Name, Attach = CulpritAttach.Netfilter,
                    Summary = $"dropped{where} by BPF netfilter program {hook.Name} (id {hook.BpfProgramId}) — not iptables, not nftables",
                };
            case hook_entry_kind.HOOK_ENTRY_NFTABLES:
                var iptables = IptablesTables.Contains(hook.Table) && hook.Name.All(c => !char.IsLower(c));
                return new Culprit
                {
                    Kind = iptables ? CulpritKind.IptablesRule : CulpritKind.NftablesRule, Confidence = confidence, Evidence = evidence,
                    Family = family, Hook = hookName, Priority = priority,
                    Table = hook.Table, Chain = hook.Name,
                    Summary = iptables
                        ? $"dropped{where} by a rule or the policy of iptables chain {hook.Name} in table {hook.Table} (iptables-nft)"
                        : $"dropped{where} by a rule or the policy of nftables chain {hook.Name} in table {hook.Table}",
                };
            default:
                var symbol = symbols.Resolve(hook.Function);
                evidence.Add($"hook function {symbol?.ToString() ?? $"0x{hook.Function:x}"}");
                if (symbol is { IsModule: true } module)
                    return KernelCulprits.InModule(module, seen.Node, evidence, confidence) with { Family = family, Hook = hookName, Priority = priority };
                var function = symbol?.Name ?? $"0x{hook.Function:x}";
                if (point is { } legacyPoint && IptablesLegacyTable(function, hook.Priority) is { } legacyTable)
                    return LegacyRule(seen, legacyPoint, hook, legacyTable, evidence, confidence);
                CulpritLsm? lsm = function.StartsWith("selinux_", StringComparison.Ordinal) ? CulpritLsm.Selinux
                    : function.StartsWith("apparmor_", StringComparison.Ordinal) ? CulpritLsm.Apparmor : null;
                return new Culprit
                {
                    Kind = lsm is not null ? CulpritKind.Lsm : function.StartsWith("ipt", StringComparison.Ordinal) || function.StartsWith("ip6t", StringComparison.Ordinal) ? CulpritKind.IptablesRule : CulpritKind.NetfilterHook,
                    Confidence = confidence, Evidence = evidence, LsmName = lsm,
                    Family = family, Hook = hookName, Priority = priority, Function = function,
                    Summary = $"dropped{where} by netfilter hook function {function} (built into the kernel)",
                };
        }
    }

    /// <summary>Where the verdict's chain is hooked for this flow's family (its one hook point in the drop's namespace), when no sentinel said.</summary>
    private static (string Hook, int? Priority)? ChainAt(IntervalEvidence seen, DropFlow flow, NftVerdict verdict)
    {
        var family = HookPoint.FamilyOf(flow);
        var hooked = seen.HookTables
            .Where(t => t.Key.Netns == flow.Netns && t.Key.Family == family)
            .SelectMany(t => t.Value.Where(e => e.Kind == hook_entry_kind.HOOK_ENTRY_NFTABLES && e.Table == verdict.Table && e.Name == verdict.Chain)
                                    .Select(e => (t.Key.HookName, (int?)e.Priority)))
            .ToList();
        return hooked.Count == 1 ? hooked[0] : null;
    }

    /// <summary>nftables reported the verdict itself: the exact rule (or chain policy) that dropped the flow.</summary>
    private static Culprit FromVerdict(DropFlow flow, NftVerdict verdict, string? rule, (string Hook, int? Priority)? at, List<string> evidence)
    {
        var iptables = verdict.Family is "ip" or "ip6" && IptablesTables.Contains(verdict.Table) && verdict.Chain.All(c => !char.IsLower(c));
        evidence.Add(verdict.Policy
            ? $"nftrace: policy drop of chain {verdict.Family} {verdict.Table} {verdict.Chain}"
            : $"nftrace: verdict drop by rule handle {verdict.Handle} of chain {verdict.Family} {verdict.Table} {verdict.Chain}");
        if (verdict.Flow.SourcePort != flow.SourcePort)
            evidence.Add($"verdict seen on the same client and service from source port {verdict.Flow.SourcePort}");
        var where = at is var (hook, priority) ? $" at {hook} priority {priority}" : "";
        var tool = iptables ? "iptables" : "nftables";
        return new Culprit
        {
            Kind = verdict.Policy ? CulpritKind.NftablesPolicy : iptables ? CulpritKind.IptablesRule : CulpritKind.NftablesRule,
            Confidence = CulpritConfidence.Exact, Evidence = evidence,
            Family = verdict.Family, Hook = at?.Hook, Priority = at?.Priority,
            Table = verdict.Table, Chain = verdict.Chain, Handle = verdict.Handle, Rule = rule,
            Summary = verdict.Policy
                ? $"dropped{where} by the drop policy of {tool} chain {verdict.Chain} in table {verdict.Family} {verdict.Table}"
                : $"dropped{where} by {tool} rule \"{rule ?? $"handle {verdict.Handle}"}\" (handle {verdict.Handle}) in chain {verdict.Chain} of table {verdict.Family} {verdict.Table}",
        };
    }

    [GeneratedRegex("^ip6?table_([a-z]+)_hook$")]
    private static partial Regex PerTableHookFunction();

    /// <summary>
    /// The x_tables table an iptables-legacy hook serves: named by older kernels' per-table hook
    /// functions (iptable_filter_hook), else told by the fixed priority each table registers at.
    /// </summary>
    private static string? IptablesLegacyTable(string function, int priority)
    {
        var match = PerTableHookFunction().Match(function);
        if (match.Success)
            return match.Groups[1].Value;
        if (function is not ("ipt_do_table" or "ip6t_do_table"))
            return null;
        return priority switch { -300 => "raw", -150 => "mangle", -100 or 100 => "nat", 0 => "filter", 50 => "security", _ => null };
    }

    /// <summary>An iptables-legacy table's hook dropped it: which rule, from the chain's counters.</summary>
    private static Culprit LegacyRule(IntervalEvidence seen, HookPoint point, HookEntry hook, string table, List<string> evidence, CulpritConfidence confidence)
    {
        var rules = seen.Node.IptablesLegacyDropping(point.FamilyName, table, point.HookName);
        var rule = rules.Count == 1 ? rules[0] : null;
        if (rules.Count > 0)
            evidence.Add("iptables-legacy counters grew on: " + string.Join("; ", rules.Select(r => $"rule {r.Number} \"{r.Rule}\" ({r.Packets} packets)")));
        return new Culprit
        {
            Kind = CulpritKind.IptablesRule, Confidence = confidence, Evidence = evidence,
            Family = point.FamilyName, Hook = point.HookName, Priority = hook.Priority,
            Table = table, Chain = point.HookName, RuleNumber = rule?.Number, Rule = rule?.Rule,
            Summary = rule is null
                ? $"dropped at {point.HookName} priority {hook.Priority} by a rule or the policy of iptables-legacy chain {point.HookName} in table {table}"
                : $"dropped at {point.HookName} priority {hook.Priority} by iptables-legacy rule {rule.Number} \"{rule.Rule}\" in table {table}",
        };
    }

    private static Culprit ByFunction(string function, List<string> evidence)
    {
        if (function.StartsWith("nft_", StringComparison.Ordinal))
            return new Culprit
            {
                Kind = CulpritKind.NftablesRule, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
                Summary = "dropped by an nftables (or iptables-nft) rule or chain policy; no sentinel saw which chain",
            };
        if (function.StartsWith("ipt", StringComparison.Ordinal) || function.StartsWith("ip6t", StringComparison.Ordinal))
            return new Culprit
            {
                Kind = CulpritKind.IptablesRule, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
                Summary = "dropped by an iptables-legacy rule or chain policy",
            };
        return new Culprit
        {
            Kind = CulpritKind.NetfilterHook, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
            Summary = "a netfilter hook returned NF_DROP; neither a sentinel nor a verdict observer saw which",
        };
    }

    private string Describe(HookEntry hook) => hook.Kind switch
    {
        hook_entry_kind.HOOK_ENTRY_BPF => $"BPF program {hook.Name} (id {hook.BpfProgramId})",
        hook_entry_kind.HOOK_ENTRY_NFTABLES => $"nftables chain {hook.Table}/{hook.Name}",
        _ => $"function {symbols.Describe(hook.Function)}",
    };
}
