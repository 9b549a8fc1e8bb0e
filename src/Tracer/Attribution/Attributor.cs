using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// Names the culprit of a drop from what the probes saw: the sentinel bracket of a netfilter drop
/// and the hook table around it, the drop location and its module, the reason and the knowledge
/// in <see cref="DropReasonGuide"/>. Confidence says how direct the evidence is.
/// </summary>
internal sealed class Attributor(KernelSymbols symbols, DropReasonGuide guide, Func<string, string?>? moduleTaint = null,
                                 Func<uint, string, IReadOnlyList<DeviceProgram>>? tcPrograms = null,
                                 Func<uint, IReadOnlyList<DeviceProgram>>? xdpPrograms = null,
                                 Func<IReadOnlyList<CgroupProgram>>? cgroupPrograms = null,
                                 Func<IReadOnlyList<(uint Id, string Name)>>? lsmPrograms = null)
{
    private readonly Func<IReadOnlyList<(uint Id, string Name)>> _lsmPrograms = lsmPrograms ?? LsmPrograms;
    private readonly IptablesLegacy _iptablesLegacy = new();
    private readonly Func<uint, string, IReadOnlyList<DeviceProgram>> _tcPrograms = tcPrograms ?? DevicePrograms.Tc;
    private readonly Func<uint, IReadOnlyList<DeviceProgram>> _xdpPrograms = xdpPrograms ?? DevicePrograms.Xdp;
    private readonly Func<IReadOnlyList<CgroupProgram>> _cgroupPrograms = cgroupPrograms ?? CgroupPrograms.Egress;

    // What the node's tools and the kernel answered this interval: asked once, however many records need it.
    // (iptables-legacy counter deltas also depend on it: a second look would see no growth.)
    private readonly Dictionary<object, object> _intervalAnswers = [];

    private readonly CulpritMemory _memory = new();
    private readonly List<ArmingRequest> _requests = [];

    /// <summary>The clock culprits are remembered by.</summary>
    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    /// <summary>Starts an interval: the node's programs and counters are asked afresh, old memories are forgotten.</summary>
    public void BeginInterval()
    {
        _intervalAnswers.Clear();
        _requests.Clear();
        _memory.Expire(Now());
    }

    /// <summary>
    /// This interval's netfilter drops that neither evidence nor memory explained, at a known hook point: where
    /// Tracer should arm its observers.
    /// </summary>
    public IReadOnlyList<ArmingRequest> Requests => _requests;

    private T Once<T>(object question, Func<T> ask) where T : notnull
    {
        if (!_intervalAnswers.TryGetValue(question, out var answer))
            _intervalAnswers[question] = answer = ask();
        return (T)answer;
    }

    /// <summary>Tracer's own network namespace: the one whose devices and hooks it can inspect.</summary>
    public uint OwnNetns { get; init; }

    /// <summary>How the exact tier observes a hook function ("fexit", "kprobes"), for the evidence.</summary>
    public Func<ulong, string?> VerdictMethod { get; init; } = _ => null;

    private static readonly HashSet<string> IptablesTables = ["filter", "nat", "mangle", "raw", "security"];

    private readonly Func<string, string?> _moduleTaint = moduleTaint ?? ReadModuleTaint;
    private IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> _hookTables = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>();

    /// <summary>nftables' own trace of drop verdicts in Tracer's namespace, when it could be set up.</summary>
    /// <summary>nftables' trace in a namespace, where Tracer runs one.</summary>
    public Func<uint, NftablesTrace?> NftablesIn { get; init; } = _ => null;

    private IReadOnlyDictionary<DropFlow, (HookPoint Point, string Caller)> _hookHints = new Dictionary<DropFlow, (HookPoint, string)>();

    /// <summary>Hook points of this interval's netfilter drops, from their stacks (see <see cref="HookInference"/>).</summary>
    public void UpdateHookHints(IReadOnlyDictionary<DropFlow, (HookPoint Point, string Caller)> hints) => _hookHints = hints;

    private IReadOnlyDictionary<DropFlow, ulong> _exactVerdicts = new Dictionary<DropFlow, ulong>();

    /// <summary>Hook functions seen returning NF_DROP for this interval's flows (the exact tier's samples).</summary>
    public void UpdateExactVerdicts(IReadOnlyDictionary<DropFlow, ulong> verdicts) => _exactVerdicts = verdicts;

    /// <summary>The hook tables as the sentinels last copied them.</summary>
    public void UpdateHookTables(IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> tables) => _hookTables = tables;

    public IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> HookTables => _hookTables;

    private IReadOnlyDictionary<DropFlow, SelinuxDenial> _selinuxDenials = new Dictionary<DropFlow, SelinuxDenial>();

    /// <summary>SELinux denials that came just before this interval's sampled drops, per flow.</summary>
    public void UpdateSelinuxDenials(IReadOnlyDictionary<DropFlow, SelinuxDenial> denials) => _selinuxDenials = denials;

    public Culprit Attribute(DropFlow flow, string reason)
    {
        var location = symbols.Resolve(flow.Location);
        var evidence = new List<string> { $"reason {reason}", $"freed at {location?.ToString() ?? $"0x{flow.Location:x}"}" };
        if (reason == DropReasons.Unknown && location is { } site && guide.ImpliedBy(site.Name) is { } implied)
        {
            reason = implied;
            evidence.Add($"this kernel reports no drop reasons: {implied} implied by the location");
        }
        var culprit = Attribute(flow, reason, location, evidence);
        if (reason == "NETFILTER_DROP")
            culprit = Settle(flow, culprit, location);
        return _selinuxDenials.TryGetValue(flow, out var denial) && DeniedBySelinux(culprit, reason, denial) is { } selinux ? selinux : culprit;
    }

    /// <summary>
    /// A netfilter drop's culprit that evidence named is remembered; one it did not is recalled from memory, else
    /// asks for Tracer's observers at the drop's hook point (nftables' trace only, where nftables itself freed it).
    /// </summary>
    private Culprit Settle(DropFlow flow, Culprit culprit, KernelSymbol? location)
    {
        if (culprit.Confidence is Culprit.Exact or Culprit.Bracketed)
        {
            _memory.Remember(flow, culprit, Now());
            return culprit;
        }
        if (_memory.Recall(flow, culprit.Evidence) is { } recalled)
            return recalled;
        if ((flow.HookPoint ?? HintFor(flow)?.Point) is { } point)
            _requests.Add(new ArmingRequest(point, flow, NftablesOnly: location?.Name.StartsWith("nft_", StringComparison.Ordinal) == true));
        return culprit;
    }

    private (HookPoint Point, string Caller)? HintFor(DropFlow flow) => FlowIndex.TryFind(_hookHints, flow, out var hint) ? hint : null;

    private Culprit Attribute(DropFlow flow, string reason, KernelSymbol? location, List<string> evidence)
    {
        if (flow.SentinelsPassed == Native.DropEvent.TRACER_NF_EXACT && _exactVerdicts.TryGetValue(flow, out var function))
            return ExactHook(flow, function, evidence);
        var bracketed = flow.HookPoint is { } point ? Bracket(point, flow.SentinelsPassed, evidence) : null;
        if (reason == "NETFILTER_DROP" && NftablesIn(flow.Netns) is { } nftables && nftables.VerdictFor(flow) is { } verdict &&
            (bracketed is null ? location?.Name is { } freedIn && (freedIn.StartsWith("nft_", StringComparison.Ordinal) || freedIn == "nf_hook_slow")
                               : bracketed.Table == verdict.Table && bracketed.Chain == verdict.Chain))
            return FromVerdict(flow, verdict, nftables.RuleText(verdict), bracketed is { Hook: { } hook } ? (hook, bracketed.Priority) : ChainAt(flow, verdict), evidence);
        if (bracketed is not null)
            return bracketed;
        if (location is { IsModule: true } module)
            return InModule(module, evidence, Culprit.Inferred);
        if (location is { IsBpfProgram: true } program)
            return BpfByLocation(program, evidence);
        return reason switch
        {
            "NETFILTER_DROP" => NetfilterByLocation(location, evidence, HintFor(flow)),
            "SECURITY_HOOK" => SecurityHook(evidence),
            "SOCKET_FILTER" when SocketFilterByLsm(evidence) is { } lsm => lsm,
            "TC_EGRESS" or "TC_INGRESS" when flow.Netns == OwnNetns && TcCulprit(flow, reason, evidence) is { } tc => tc,
            _ when (reason == "XDP" || location?.Name.StartsWith("do_xdp_generic", StringComparison.Ordinal) == true) && flow.Netns == OwnNetns &&
                DeviceCulprit(Once(("xdp", flow.Ifindex), () => _xdpPrograms(flow.Ifindex)), "ingress", evidence) is { } xdp => xdp,
            "BPF_CGROUP_EGRESS" when CgroupCulprit(evidence) is { } cgroup => cgroup,
            "TC_EGRESS" or "TC_INGRESS" or "XDP" or "BPF_CGROUP_EGRESS" => new Culprit
            {
                Kind = Culprit.BpfProgram, Confidence = Culprit.Inferred, Evidence = evidence,
                Attach = reason switch { "TC_EGRESS" or "TC_INGRESS" => "tc", "XDP" => "xdp", _ => "cgroup_skb" },
                Summary = $"dropped by a BPF program ({reason switch { "TC_EGRESS" => "tc egress", "TC_INGRESS" => "tc ingress", "XDP" => "XDP", _ => "cgroup egress" }}) on interface {flow.Ifindex}",
            },
            _ => Stack(reason, location, evidence),
        };
    }

    /// <summary>
    /// SELinux's own verdict: an enforced denial came just before the drop, on the same CPU, and the drop is one
    /// SELinux makes — at its netfilter hooks (selinux_ip_*), at the receiving socket's LSM hook (SOCKET_FILTER),
    /// at an LSM hook (SECURITY_HOOK), or a netfilter drop no observer pinned to a hook. Any other culprit stands:
    /// the denial then concerned something else.
    /// </summary>
    private static Culprit? DeniedBySelinux(Culprit culprit, string reason, SelinuxDenial denial)
    {
        var lsmDrop = reason is "SOCKET_FILTER" or "SECURITY_HOOK";
        var fits = culprit.Kind switch
        {
            Culprit.Lsm => lsmDrop || culprit.LsmName is null or "selinux",
            Culprit.NetfilterHook => culprit.Function is null,
            Culprit.KernelStack => lsmDrop,
            _ => false,
        };
        if (!fits)
            return null;
        var (source, target) = (SelinuxDenial.TypeOf(denial.Scontext), SelinuxDenial.TypeOf(denial.Tcontext));
        var where = culprit.Hook is { } hook ? $" at {hook}{(culprit.Priority is { } priority ? $" priority {priority}" : "")}{(culprit.Function is { } f ? $" ({f})" : "")}"
            : reason == "SOCKET_FILTER" ? " as the receiving socket took the packet" : "";
        return culprit with
        {
            Kind = Culprit.Lsm, LsmName = "selinux", Confidence = Culprit.Exact,
            ProgramId = null, ProgramName = null, Attach = null, Explanation = null,
            Scontext = denial.Scontext, Tcontext = denial.Tcontext, Tclass = denial.Tclass, Permissions = denial.Permissions,
            Evidence = [.. culprit.Evidence, $"SELinux (enforcing) denied it just before, on the same CPU: {denial}"],
            Summary = $"denied by SELinux{where}: the enforcing policy does not let {source} {denial.Permissions} a {denial.Tclass} labeled {target}",
            Check = $"The policy's rules for {source} on {target}:{denial.Tclass} (sesearch --allow -s {source} -t {target} -c {denial.Tclass}; " +
                    "the audit log's AVC records), and where the label comes from (secmark rules: nft list ruleset | grep secmark, iptables -t security -S).",
        };
    }

    /// <summary>An LSM denied the packet: the active LSMs and the node's BPF-LSM programs are the evidence.</summary>
    private Culprit SecurityHook(List<string> evidence)
    {
        var active = File.Exists("/sys/kernel/security/lsm") ? File.ReadAllText("/sys/kernel/security/lsm").Trim() : null;
        evidence.Add(active is null ? "active LSMs unknown (securityfs not mounted)" : $"active LSMs: {active}");
        return BpfLsmProgram(evidence) ?? new Culprit
        {
            Kind = Culprit.Lsm, Confidence = Culprit.Inferred, Evidence = evidence,
            Summary = $"denied by a Linux Security Module hook ({active ?? "SELinux, AppArmor or BPF-LSM"})",
        };
    }

    /// <summary>
    /// A socket refused the packet (SOCKET_FILTER): its own filter, or an LSM's socket_sock_rcv_skb hook,
    /// which the kernel reports the same way. With exactly one BPF-LSM program on the node, that one.
    /// </summary>
    private Culprit? SocketFilterByLsm(List<string> evidence)
    {
        var culprit = BpfLsmProgram(evidence);
        if (culprit is not null)
            evidence.Add("a socket filter and an LSM's socket_sock_rcv_skb hook both report SOCKET_FILTER; the LSM program is the likelier");
        return culprit;
    }

    /// <summary>The node's BPF-LSM programs as evidence; the culprit when there is exactly one.</summary>
    private Culprit? BpfLsmProgram(List<string> evidence)
    {
        var programs = Once("lsm", _lsmPrograms);
        if (programs.Count > 0)
            evidence.Add("BPF-LSM programs: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id})")));
        if (programs.Count != 1)
            return null;
        return new Culprit
        {
            Kind = Culprit.Lsm, Confidence = Culprit.Inferred, Evidence = evidence, LsmName = "bpf",
            ProgramId = programs[0].Id, ProgramName = programs[0].Name, Attach = "lsm",
            Summary = $"denied by BPF-LSM program {programs[0].Name} (id {programs[0].Id}), the only one loaded",
        };
    }

    private static IReadOnlyList<(uint Id, string Name)> LsmPrograms()
    {
        try
        {
            return LoadedBpfPrograms.OfType(bpf_prog_type.BPF_PROG_TYPE_LSM);
        }
        catch (NativeException)
        {
            return [];
        }
    }

    /// <summary>The cgroup egress programs of the node: with one, it is the culprit.</summary>
    private Culprit? CgroupCulprit(List<string> evidence)
    {
        var programs = Once("cgroup", _cgroupPrograms);
        if (programs.Count == 0)
            return null;
        var first = programs[0];
        evidence.Add("cgroup egress BPF programs: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id}) on {p.Cgroup}")));
        return new Culprit
        {
            Kind = Culprit.BpfProgram, Confidence = Culprit.Inferred, Evidence = evidence,
            ProgramId = first.Id, ProgramName = first.Name, Attach = "cgroup_skb", Hook = "egress",
            Summary = programs.Count == 1
                ? $"denied on egress by cgroup BPF program {first.Name} (id {first.Id}) attached to cgroup {first.Cgroup}"
                : $"denied on egress by one of {programs.Count} cgroup BPF programs, e.g. {first.Name} (id {first.Id}) on {first.Cgroup}",
        };
    }

    private Culprit? TcCulprit(DropFlow flow, string reason, List<string> evidence)
    {
        var direction = reason == "TC_EGRESS" ? "egress" : "ingress";
        return DeviceCulprit(Once(("tc", flow.Ifindex, direction), () => _tcPrograms(flow.Ifindex, direction)), direction, evidence);
    }

    /// <summary>The BPF programs (tc or XDP) the drop's device runs in that direction: with one, it is the culprit.</summary>
    private static Culprit? DeviceCulprit(IReadOnlyList<DeviceProgram> programs, string direction, List<string> evidence)
    {
        if (programs.Count == 0)
            return null;
        var first = programs[0];
        var what = first.Attach == "xdp" ? "XDP" : $"{first.Attach} {direction}";
        evidence.Add($"{what} BPF programs on {first.Interface}: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id})")));
        return new Culprit
        {
            Kind = Culprit.BpfProgram, Confidence = Culprit.Inferred, Evidence = evidence,
            ProgramId = first.Id, ProgramName = first.Name, Attach = first.Attach, Hook = direction,
            Summary = programs.Count == 1
                ? $"dropped by {what} BPF program {first.Name} (id {first.Id}) on {first.Interface}"
                : $"dropped by one of {programs.Count} {what} BPF programs on {first.Interface}, first {first.Name} (id {first.Id})",
        };
    }

    /// <summary>The foreign hooks between the last sentinel the packet passed and the next one.</summary>
    private Culprit? Bracket(HookPoint point, int passed, List<string> evidence)
    {
        if (!_hookTables.TryGetValue(point, out var entries))
            return null;
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
        var confidence = candidates.Count == 1 ? Culprit.Bracketed : Culprit.Inferred;
        if (candidates.Count > 1)
            evidence.Add("hooks in that bracket: " + string.Join(", ", candidates.Select(c => $"{Describe(c)} (priority {c.Priority})")));
        return FromHook(candidates[0], point, evidence, confidence);
    }

    /// <summary>
    /// The exact tier observed this hook function return NF_DROP for the packet. Its hook point is the
    /// sentinels' or, without them, the one hook point of the drop's namespace that runs the function.
    /// </summary>
    private Culprit ExactHook(DropFlow flow, ulong function, List<string> evidence)
    {
        // A function may serve several hook points (selinux_ip_postroute: IPv4 and IPv6): the sentinels' point,
        // else the one the kernel stack names, else the flow's family narrows them.
        var point = flow.HookPoint ?? HintFor(flow)?.Point;
        var family = flow.L3Protocol == 0x86DD ? HookPoint.IPv6 : HookPoint.IPv4;
        var registered = _hookTables
            .Where(t => t.Key.Netns == flow.Netns && (point is { } p ? t.Key == p : t.Key.Family == family))
            .SelectMany(t => t.Value.Where(e => e.Function == function).Select(e => (Point: t.Key, Entry: e)))
            .ToList();
        evidence.Add($"observed {symbols.Describe(function)} return NF_DROP for the packet ({VerdictMethod(function) ?? "fexit/kprobes"})");
        if (registered.Count == 1)
            return FromHook(registered[0].Entry, registered[0].Point, evidence, Culprit.Exact);
        var hook = new HookEntry(0, function, Native.hook_entry_kind.HOOK_ENTRY_FUNCTION, 0, "", "", false, false);
        return FromHook(hook, null, evidence, Culprit.Exact);
    }

    /// <summary>The culprit a registered hook makes; <paramref name="point"/> null when its hook point is not known.</summary>
    private Culprit FromHook(HookEntry hook, HookPoint? point, List<string> evidence, string confidence)
    {
        var where = point is { } at ? $" at {at.HookName} priority {hook.Priority}" : "";
        var (family, hookName, priority) = point is { } p ? (p.FamilyName, p.HookName, (int?)hook.Priority) : (null, null, null);
        switch (hook.Kind)
        {
            case Native.hook_entry_kind.HOOK_ENTRY_BPF:
                return new Culprit
                {
                    Kind = Culprit.BpfProgram, Confidence = confidence, Evidence = evidence,
                    Family = family, Hook = hookName, Priority = priority,
                    ProgramId = hook.BpfProgramId, ProgramName = hook.Name, Attach = "netfilter",
                    Summary = $"dropped{where} by BPF netfilter program {hook.Name} (id {hook.BpfProgramId}) — not iptables, not nftables",
                };
            case Native.hook_entry_kind.HOOK_ENTRY_NFTABLES:
                var iptables = IptablesTables.Contains(hook.Table) && hook.Name.All(c => !char.IsLower(c));
                return new Culprit
                {
                    Kind = iptables ? Culprit.IptablesRule : Culprit.NftablesRule, Confidence = confidence, Evidence = evidence,
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
                    return InModule(module, evidence, confidence) with { Family = family, Hook = hookName, Priority = priority };
                var function = symbol?.Name ?? $"0x{hook.Function:x}";
                if (point is { } legacyPoint && IptablesLegacyTable(function, hook.Priority) is { } legacyTable)
                    return LegacyRule(legacyPoint, hook, legacyTable, evidence, confidence);
                var lsm = function.StartsWith("selinux_", StringComparison.Ordinal) ? "selinux"
                    : function.StartsWith("apparmor_", StringComparison.Ordinal) ? "apparmor" : null;
                return new Culprit
                {
                    Kind = lsm is not null ? Culprit.Lsm : function.StartsWith("ipt", StringComparison.Ordinal) || function.StartsWith("ip6t", StringComparison.Ordinal) ? Culprit.IptablesRule : Culprit.NetfilterHook,
                    Confidence = confidence, Evidence = evidence, LsmName = lsm,
                    Family = family, Hook = hookName, Priority = priority, Function = function,
                    Summary = $"dropped{where} by netfilter hook function {function} (built into the kernel)",
                };
        }
    }

    /// <summary>Where the verdict's chain is hooked for this flow's family (its one hook point in the drop's namespace), when no sentinel said.</summary>
    private (string Hook, int? Priority)? ChainAt(DropFlow flow, NftVerdict verdict)
    {
        var family = flow.L3Protocol == 0x86DD ? HookPoint.IPv6 : HookPoint.IPv4;
        var hooked = _hookTables
            .Where(t => t.Key.Netns == flow.Netns && t.Key.Family == family)
            .SelectMany(t => t.Value.Where(e => e.Kind == Native.hook_entry_kind.HOOK_ENTRY_NFTABLES && e.Table == verdict.Table && e.Name == verdict.Chain)
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
            Kind = verdict.Policy ? Culprit.NftablesPolicy : iptables ? Culprit.IptablesRule : Culprit.NftablesRule,
            Confidence = Culprit.Exact, Evidence = evidence,
            Family = verdict.Family, Hook = at?.Hook, Priority = at?.Priority,
            Table = verdict.Table, Chain = verdict.Chain, Handle = verdict.Handle, Rule = rule,
            Summary = verdict.Policy
                ? $"dropped{where} by the drop policy of {tool} chain {verdict.Chain} in table {verdict.Family} {verdict.Table}"
                : $"dropped{where} by {tool} rule \"{rule ?? $"handle {verdict.Handle}"}\" (handle {verdict.Handle}) in chain {verdict.Chain} of table {verdict.Family} {verdict.Table}",
        };
    }

    /// <summary>
    /// The x_tables table an iptables-legacy hook serves: named by older kernels' per-table hook
    /// functions (iptable_filter_hook), else told by the fixed priority each table registers at.
    /// </summary>
    private static string? IptablesLegacyTable(string function, int priority)
    {
        var match = System.Text.RegularExpressions.Regex.Match(function, "^ip6?table_([a-z]+)_hook$");
        if (match.Success)
            return match.Groups[1].Value;
        if (function is not ("ipt_do_table" or "ip6t_do_table"))
            return null;
        return priority switch { -300 => "raw", -150 => "mangle", -100 or 100 => "nat", 0 => "filter", 50 => "security", _ => null };
    }

    /// <summary>An iptables-legacy table's hook dropped it: which rule, from the chain's counters.</summary>
    private Culprit LegacyRule(HookPoint point, HookEntry hook, string table, List<string> evidence, string confidence)
    {
        var rules = Once(("iptables-legacy", point.FamilyName, table, point.HookName),
                         () => _iptablesLegacy.DroppingRules(point.FamilyName, table, point.HookName));
        var rule = rules.Count == 1 ? rules[0] : null;
        if (rules.Count > 0)
            evidence.Add("iptables-legacy counters grew on: " + string.Join("; ", rules.Select(r => $"rule {r.Number} \"{r.Rule}\" ({r.Packets} packets)")));
        return new Culprit
        {
            Kind = Culprit.IptablesRule, Confidence = confidence, Evidence = evidence,
            Family = point.FamilyName, Hook = point.HookName, Priority = hook.Priority,
            Table = table, Chain = point.HookName, RuleNumber = rule?.Number, Rule = rule?.Rule,
            Summary = rule is null
                ? $"dropped at {point.HookName} priority {hook.Priority} by a rule or the policy of iptables-legacy chain {point.HookName} in table {table}"
                : $"dropped at {point.HookName} priority {hook.Priority} by iptables-legacy rule {rule.Number} \"{rule.Rule}\" in table {table}",
        };
    }

    private Culprit InModule(KernelSymbol symbol, List<string> evidence, string confidence)
    {
        var taint = _moduleTaint(symbol.Module!);
        var outOfTree = taint?.Contains('O', StringComparison.Ordinal) == true;
        if (taint is not null)
            evidence.Add($"/sys/module/{symbol.Module}/taint: {(taint.Length == 0 ? "(none)" : taint)}");
        return new Culprit
        {
            Kind = Culprit.KernelModule, Confidence = confidence, Evidence = evidence,
            Function = symbol.Name, Module = symbol.Module, OutOfTree = taint is null ? null : outOfTree,
            Summary = $"dropped by function {symbol.Name} in {(outOfTree ? "out-of-tree " : "")}kernel module {symbol.Module} (not iptables, not nftables)",
        };
    }

    private static Culprit BpfByLocation(KernelSymbol symbol, List<string> evidence)
    {
        // JIT symbols read bpf_prog_<tag>_<name>.
        var parts = symbol.Name.Split('_', 4);
        var name = parts.Length == 4 ? parts[3] : symbol.Name;
        return new Culprit
        {
            Kind = Culprit.BpfProgram, Confidence = Culprit.Inferred, Evidence = evidence, ProgramName = name,
            Summary = $"dropped inside BPF program {name}",
        };
    }

    /// <summary>
    /// No sentinel or verdict saw the drop: the location says which kind of hook, and the stack which hook
    /// point; where that point has only one foreign hook registered, it is the one (inferred).
    /// </summary>
    private Culprit NetfilterByLocation(KernelSymbol? location, List<string> evidence, (HookPoint Point, string Caller)? hint)
    {
        var culprit = NetfilterByFunction(location?.Name ?? "", evidence);
        if (hint is not { } h)
            return culprit;
        evidence.Add($"hook point from the kernel stack: {h.Caller} → {h.Point.FamilyName} {h.Point.HookName}");
        var foreign = _hookTables.TryGetValue(h.Point, out var entries) ? entries.Where(e => !e.IsOwn).ToList() : [];
        // nftables freed it itself: one of the point's nftables chains, and where there is one, that chain.
        var chains = foreign.Where(e => e.Kind == Native.hook_entry_kind.HOOK_ENTRY_NFTABLES).ToList();
        if (culprit.Kind == Culprit.NftablesRule && chains.Count == 1)
        {
            evidence.Add($"the only nftables chain registered at {h.Point.HookName}: {Describe(chains[0])} (priority {chains[0].Priority})");
            return FromHook(chains[0], h.Point, evidence, Culprit.Inferred);
        }
        if (foreign.Count == 1 && culprit.Kind == Culprit.NetfilterHook)
        {
            evidence.Add($"the only foreign hook registered at {h.Point.HookName}: {Describe(foreign[0])} (priority {foreign[0].Priority})");
            return FromHook(foreign[0], h.Point, evidence, Culprit.Inferred);
        }
        if (foreign.Count > 1)
            evidence.Add($"hooks registered at {h.Point.HookName}: " + string.Join(", ", foreign.Select(e => $"{Describe(e)} (priority {e.Priority})")));
        return culprit with { Family = h.Point.FamilyName, Hook = h.Point.HookName, Summary = $"{culprit.Summary} (at {h.Point.HookName})" };
    }

    private static Culprit NetfilterByFunction(string function, List<string> evidence)
    {
        if (function.StartsWith("nft_", StringComparison.Ordinal))
            return new Culprit
            {
                Kind = Culprit.NftablesRule, Confidence = Culprit.Inferred, Evidence = evidence,
                Summary = "dropped by an nftables (or iptables-nft) rule or chain policy; no sentinel saw which chain",
            };
        if (function.StartsWith("ipt", StringComparison.Ordinal) || function.StartsWith("ip6t", StringComparison.Ordinal))
            return new Culprit
            {
                Kind = Culprit.IptablesRule, Confidence = Culprit.Inferred, Evidence = evidence,
                Summary = "dropped by an iptables-legacy rule or chain policy",
            };
        return new Culprit
        {
            Kind = Culprit.NetfilterHook, Confidence = Culprit.Inferred, Evidence = evidence,
            Summary = "a netfilter hook returned NF_DROP; neither a sentinel nor a verdict observer saw which",
        };
    }

    private Culprit Stack(string reason, KernelSymbol? location, List<string> evidence)
    {
        var where = location is { } l ? $" in {l.Name}" : "";
        if (guide.Lookup(reason) is not { } entry)
            return new Culprit
            {
                Kind = reason == DropReasons.Unknown ? Culprit.Unknown : Culprit.KernelStack, Confidence = Culprit.Inferred, Evidence = evidence,
                Summary = $"dropped by the kernel{where} (reason {reason})",
            };
        return new Culprit
        {
            Kind = Culprit.KernelStack, Confidence = Culprit.Inferred, Evidence = evidence,
            Explanation = entry.Explanation, Check = entry.Check,
            Summary = $"dropped by the kernel's own stack{where}: {entry.Explanation}",
        };
    }

    private string Describe(HookEntry hook) => hook.Kind switch
    {
        Native.hook_entry_kind.HOOK_ENTRY_BPF => $"BPF program {hook.Name} (id {hook.BpfProgramId})",
        Native.hook_entry_kind.HOOK_ENTRY_NFTABLES => $"nftables chain {hook.Table}/{hook.Name}",
        _ => $"function {symbols.Describe(hook.Function)}",
    };

    /// <summary>Taint letters of a loaded module ('O' out-of-tree, 'E' unsigned), or null if unknown.</summary>
    private static string? ReadModuleTaint(string module)
    {
        var path = $"/sys/module/{module}/taint";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }
}
