using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>What one interval's drops became: their records, and where observers should be armed next.</summary>
/// <param name="Requests">Netfilter drops that neither evidence nor memory explained, at a known hook point.</param>
internal sealed record AttributedInterval(IReadOnlyList<DropRecord> Records, IReadOnlyList<ArmingRequest> Requests);

/// <summary>
/// Names the culprit of every drop of an interval from its <see cref="IntervalEvidence"/>, asking each source
/// from the most direct to the least: an observed hook verdict, the sentinels' bracket, nftables' trace
/// (<see cref="NetfilterCulprits"/>), the drop's location in a module or a BPF program, the programs and LSMs
/// the reason points at (<see cref="BpfProgramCulprits"/>, <see cref="LsmCulprits"/>), else the stack's own
/// explanation (<see cref="KernelCulprits"/>). Confidence says how direct the evidence was. Netfilter culprits
/// named by evidence are remembered per flow (<see cref="CulpritMemory"/>), the only state kept between intervals.
/// </summary>
internal sealed class Attributor(KernelSymbols symbols, DropReasons reasons, DropReasonGuide guide)
{
    private readonly NetfilterCulprits _netfilter = new(symbols);
    private readonly KernelCulprits _kernel = new(guide);
    private readonly CulpritMemory _memory = new();

    /// <summary>The clock culprits are remembered by.</summary>
    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    /// <summary>The interval's records, each with its culprit; <paramref name="withStack"/>: the flows whose records carry their kernel stack.</summary>
    public AttributedInterval Attribute(IntervalEvidence seen, Func<DropFlow, bool> withStack)
    {
        _memory.Expire(Now());
        var requests = new List<ArmingRequest>();
        var records = new DropRecordBuilder(symbols, reasons, seen.ReadStack, withStack)
            .Build(seen.Drops, (flow, reason) => Name(seen, flow, reason, requests));
        return new AttributedInterval(records, requests);
    }

    /// <summary>One drop's culprit; a netfilter drop nothing explained adds its hook point to <paramref name="requests"/>.</summary>
    internal Culprit Name(IntervalEvidence seen, DropFlow flow, string reason, List<ArmingRequest>? requests = null)
    {
        var location = symbols.Resolve(flow.Location);
        var evidence = new List<string> { $"reason {reason}", $"freed at {location?.ToString() ?? $"0x{flow.Location:x}"}" };
        if (reason == DropReasons.Unknown && location is { } site && _kernel.ImpliedReason(site) is { } implied)
        {
            reason = implied;
            evidence.Add($"this kernel reports no drop reasons: {implied} implied by the location");
        }
        var culprit = FromEvidence(seen, flow, reason, location, evidence);
        if (reason == DropReasons.NetfilterDrop || NetfilterCulprits.FreesQueued(location))
            culprit = Settle(seen, flow, culprit, location, requests);
        if (seen.SelinuxDenials.TryGetValue(flow, out var denial) && LsmCulprits.DeniedBySelinux(culprit, reason, denial) is { } selinux)
            culprit = selinux;
        return CulpritOwners.Own(culprit, flow, seen.Node);
    }

    private Culprit FromEvidence(IntervalEvidence seen, DropFlow flow, string reason, KernelSymbol? location, List<string> evidence)
    {
        // A queue's listener frees its verdict's packets outside the hook loop, where the sentinels' trail is another packet's.
        var trailed = !NetfilterCulprits.FreedByListener(location);
        if (trailed && _netfilter.Observed(seen, flow, evidence) is { } observed)
            return observed;
        var bracketed = trailed ? _netfilter.Bracketed(seen, flow, evidence) : null;
        // NFQUEUE's drops carry no reason (NOT_SPECIFIED): their location says they are netfilter's.
        if ((reason == DropReasons.NetfilterDrop || NetfilterCulprits.FreesQueued(location)) &&
            _netfilter.FromTrace(seen, flow, location, bracketed, evidence) is { } traced)
            return traced;
        if (bracketed is not null)
            return bracketed;
        if (location is { IsModule: true } module)
            return KernelCulprits.InModule(module, seen.Node, evidence, CulpritConfidence.Inferred);
        if (location is { IsBpfProgram: true } program)
            return BpfProgramCulprits.ByLocation(program, seen.Node, evidence);
        return reason switch
        {
            DropReasons.NetfilterDrop => _netfilter.ByLocation(seen, flow, location, evidence),
            DropReasons.SecurityHook => LsmCulprits.SecurityHook(seen.Node, evidence),
            DropReasons.SocketFilter when LsmCulprits.SocketFilter(seen.Node, evidence) is { } lsm => lsm,
            _ => BpfProgramCulprits.ByReason(seen, flow, reason, location, evidence) ?? _kernel.Stack(reason, location, evidence),
        };
    }

    /// <summary>
    /// A netfilter drop's culprit that evidence named is remembered; one it did not is recalled from memory, else
    /// asks for Tracer's observers at the drop's hook point (nftables' trace only, where nftables itself freed it, or
    /// where NFQUEUE did: only the trace sees which rule queued the packet, no sentinel sees a user-space verdict).
    /// </summary>
    private Culprit Settle(IntervalEvidence seen, DropFlow flow, Culprit culprit, KernelSymbol? location, List<ArmingRequest>? requests)
    {
        if (culprit.Confidence is CulpritConfidence.Exact or CulpritConfidence.Bracketed)
        {
            _memory.Remember(flow, culprit, Now());
            return culprit;
        }
        if (_memory.Recall(flow, culprit.Evidence) is { } recalled)
            return recalled;
        var nftablesOnly = location?.Name.StartsWith("nft_", StringComparison.Ordinal) == true || NetfilterCulprits.FreesQueued(location);
        foreach (var point in ArmingPoints(seen, flow, location))
            requests?.Add(new ArmingRequest(point, flow, nftablesOnly));
        return culprit;
    }

    /// <summary>
    /// Where to arm for a drop: its hook point, from the sentinels' trail or the kernel stack. A queued packet's hook point
    /// may be neither's (its listener's verdict frees it in the listener's sendmsg): it is marked where its packets enter
    /// netfilter, and nftables' trace follows it to the rule that queued it.
    /// </summary>
    private static IEnumerable<HookPoint> ArmingPoints(IntervalEvidence seen, DropFlow flow, KernelSymbol? location)
    {
        var point = NetfilterCulprits.FreedByListener(location) ? null : flow.HookPoint ?? seen.HintFor(flow)?.Point;
        if (point is { } known)
            return [known];
        return NetfilterCulprits.FreesQueued(location)
            ? HookPoint.EntryHooks.Select(hook => new HookPoint(flow.Netns, HookPoint.FamilyOf(flow), hook))
            : [];
    }
}
