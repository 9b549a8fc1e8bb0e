using Microsoft.Extensions.Logging;
using Tracer.Discovery;
using Tracer.Output;
using Tracer.Records;

namespace Tracer.Daemon;

/// <summary>
/// The daemon's drops in its log, for whoever reads <c>kubectl logs</c> or the journal: a culprit's
/// first drops at once, then at most one line a minute with the drops since — a flood is a line a
/// minute, not a line a second. Drops of a pod's probe traffic say which probe and what the kubelet
/// will do. Culprits quiet for ten minutes are forgotten (bounded memory).
/// </summary>
internal sealed class DropLog(ILogger logger)
{
    private static readonly TimeSpan Every = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Forget = TimeSpan.FromMinutes(10);
    private readonly Dictionary<string, (DateTimeOffset Logged, DateTimeOffset Seen, ulong Pending)> _culprits = [];

    public void Write(IReadOnlyList<DropRecord> records, PodSnapshot pods, DateTimeOffset now)
    {
        foreach (var group in records.Where(r => !r.Overflow).GroupBy(r => What(r, pods)))
        {
            var drops = group.Aggregate(0UL, (sum, r) => sum + r.Count);
            if (!_culprits.TryGetValue(group.Key, out var known))
            {
                logger.LogWarning("{Drops} drops ({Flow}): {Culprit}", drops, DropText.Flow(group.First(), pods: pods), group.Key);
                _culprits[group.Key] = (now, now, 0);
                continue;
            }
            known = known with { Seen = now, Pending = known.Pending + drops };
            if (now - known.Logged >= Every)
            {
                logger.LogWarning("{Drops} more drops in the last {Seconds:F0} s: {Culprit}", known.Pending, (now - known.Logged).TotalSeconds, group.Key);
                known = (now, now, 0);
            }
            _culprits[group.Key] = known;
        }
        foreach (var quiet in _culprits.Where(c => now - c.Value.Seen >= Forget).Select(c => c.Key).ToList())
            _culprits.Remove(quiet);
    }

    /// <summary>The culprit in words; for a pod's probe traffic, the probe's sentence around it.</summary>
    private static string What(DropRecord record, PodSnapshot pods)
    {
        var culprit = record.Culprit?.Sentence ?? $"dropped: {record.Reason} at {record.Location}";
        return PodProbe.MostSevere(PodProbe.Matching(record.Flow!, pods)) is { } probe && pods.Concerned(record.Flow!) is { } pod
            ? $"{pod.Identity}: {probe.Sentence(culprit)}"
            : culprit;
    }
}
