using System.Globalization;
using Tracer.Errors;
using Tracer.Output;
using Tracer.Kernel;
using Tracer.Records;

namespace Tracer.Diagnosis;

/// <summary>The packets of the pod Tracer saw dropped, grouped by direction, place and culprit.</summary>
internal sealed record DropGroup(string Direction, string? Reason, string? Location, Culprit? Culprit, ulong Drops, string Flow);

/// <summary>
/// The answer: reachable or not; if not, where the packets die, who drops them, how many probes
/// were affected, and the next step in plain words. Exit code 0, 4 (dropped, culprit named) or 5.
/// </summary>
internal sealed record Verdict(bool Reachable, string Summary, string? Direction, string? Where, Culprit? Culprit, int FailedProbes,
                               int Probes, string NextStep, int ExitCode)
{
    public static Verdict From(DiagnoseTarget target, IReadOnlyList<ProbeResult> probes, IReadOnlyList<DropGroup> drops,
                               IReadOnlyList<Finding> findings, TimeSpan traced)
    {
        var failed = probes.Sum(p => p.Failed);
        var unanswered = probes.Where(p => p.Unanswered > 0).ToList();
        var forward = Describe(probes, ProbeResult.NodeToPod);
        var reverse = Describe(probes, ProbeResult.PodToNode);
        var paths = reverse is null ? forward : $"{forward}; {reverse}";
        if (unanswered.Count == 0)
        {
            var refused = probes.Where(p => p.Answered > p.Succeeded).Select(p => $"{p.Kind} {p.Target}: {p.Detail}").ToList();
            return new Verdict(true, refused.Count == 0
                    ? $"{Named(target)} is reachable: {paths}."
                    : $"{Named(target)} is reachable, but not every probe succeeded: {string.Join("; ", refused)}.",
                null, null, null, failed, probes.Sum(p => p.Sent),
                refused.Count == 0 ? "Nothing to do on the network path." : "The network delivers: check the application in the pod (is it listening, is it healthy?).",
                ExitCodes.Success);
        }
        // The node's view first (kubelet probes from there), then the reverse path; within one, a named culprit over an unnamed one.
        var culprit = new[] { ProbeResult.NodeToPod, ProbeResult.PodToNode }
            .Where(direction => unanswered.Any(p => p.Direction == direction))
            .SelectMany(direction => drops.Where(d => d.Direction == direction)
                .OrderByDescending(d => d.Culprit is { Kind: not CulpritKind.Unknown })
                .ThenByDescending(d => d.Drops))
            .Concat(drops.OrderByDescending(d => d.Drops)) // replies lost on the way back count as the other direction's
            .FirstOrDefault();
        var failing = findings.Where(f => !f.Pass).ToList();
        if (culprit is null)
        {
            var hint = failing.Count > 0
                ? "These checks failed: " + string.Join("; ", failing.Select(f => $"{f.Check}: {f.Detail}")) + "."
                : "No check failed either: the packets may be lost outside this node's kernel (the pod's own firewall, the CNI's datapath), or the pod does not answer.";
            return new Verdict(false, $"{Named(target)} is NOT reachable and Tracer saw no drop of its packets in {Seconds(traced)} s: {paths}.",
                               null, null, null, failed, probes.Sum(p => p.Sent), hint, ExitCodes.Unexplained);
        }
        var c = culprit.Culprit;
        var dropped = drops.Where(d => d.Direction == culprit.Direction && Same(d.Culprit, c)).Aggregate(0UL, (sum, d) => sum + d.Drops);
        var from = culprit.Direction == ProbeResult.NodeToPod ? $"node {target.NodeAddress?.ToString() ?? "(this node)"} to pod {Named(target)}"
                                                              : $"pod {Named(target)} to node {target.NodeAddress?.ToString() ?? "(this node)"}";
        var who = c?.Sentence.TrimEnd('.') ?? $"dropped by the kernel at {culprit.Location}";
        var summary = $"Packets from {from} are being dropped: {dropped.ToString("N0", CultureInfo.InvariantCulture)} drops in {Seconds(traced)} s, " +
                      $"reason {culprit.Reason ?? "unknown"}, {who}. {paths}.";
        var where = c?.Hook is { } hook ? $"{c.Family} {hook}" + (c.Priority is { } p ? $" priority {p}" : "") : culprit.Location;
        return new Verdict(false, summary, culprit.Direction, where, c, failed, probes.Sum(pr => pr.Sent), Advice(c, failing),
                           c is { Kind: not CulpritKind.Unknown } ? ExitCodes.DroppedAndAttributed : ExitCodes.Unexplained);
    }

    /// <summary>"kube-system/influxdb-… (10.244.3.17)", or the address alone when that is all there is.</summary>
    private static string Named(DiagnoseTarget target) =>
        target.Name == target.Address.ToString() ? target.Name : $"{target.Name} ({target.Address})";

    private static bool Same(Culprit? a, Culprit? b) => a?.Summary == b?.Summary;

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture);

    /// <summary>"node → pod: 0 of 9 probes answered" for a direction, or null when it was not probed.</summary>
    private static string? Describe(IReadOnlyList<ProbeResult> probes, string direction)
    {
        var mine = probes.Where(p => p.Direction == direction).ToList();
        if (mine.Count == 0)
            return null;
        var sent = mine.Sum(p => p.Sent);
        var answered = mine.Sum(p => p.Answered);
        var state = answered == sent ? "works" : answered == 0 ? "fails" : "fails in part";
        return $"{direction} {state} ({answered} of {sent} probes answered: {string.Join(", ", mine.Select(p => $"{p.Kind} {p.Answered}/{p.Sent}"))})";
    }

    private static string Advice(Culprit? c, IReadOnlyList<Finding> failing) =>
        c.NextStep() + (c is { Kind: CulpritKind.KernelStack } && failing.Count > 0
            ? " Failing checks: " + string.Join("; ", failing.Select(f => $"{f.Check}: {f.Detail}")) + "."
            : "");
}

/// <summary>Records of the trace grouped by what the verdict needs; only the pod's packets.</summary>
internal static class DropGroups
{
    public static List<DropGroup> From(DiagnoseTarget target, IEnumerable<DropRecord> records)
    {
        var pod = target.PodAddresses.DefaultIfEmpty(target.Address).ToHashSet();
        return [.. records
            .Where(r => r.Flow is not null && !IsProbeArtifact(r))
            .Select(r => (Record: r, Direction: pod.Contains(r.Flow!.Destination!) ? ProbeResult.NodeToPod
                                             : pod.Contains(r.Flow.Source!) ? ProbeResult.PodToNode : null))
            .Where(x => x.Direction is not null)
            .GroupBy(x => (x.Direction, x.Record.Reason, x.Record.Location, x.Record.Culprit?.Summary))
            .Select(g => new DropGroup(g.Key.Direction!, g.Key.Reason, g.Key.Location, g.First().Record.Culprit,
                                       g.Aggregate(0UL, (sum, x) => sum + x.Record.Count), DropText.Flow(g.First().Record)))];
    }

    /// <summary>
    /// What the probes themselves leave behind, no loss: an echo reply freed for want of a ping socket (the
    /// probe's raw socket got its copy; ping sockets are off by default, net.ipv4.ping_group_range), and
    /// data still queued on a probe connection's socket when it closes (QUEUE_PURGE).
    /// </summary>
    private static bool IsProbeArtifact(DropRecord r) =>
        r.Reason == DropReasons.QueuePurge ||
        (r.Reason == DropReasons.NoSocket && r.Flow!.IsIcmp && r.Flow.SourcePort == (r.Flow.IsIPv6 ? 129 : 0));
}
