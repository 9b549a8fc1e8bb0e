using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Probes;

namespace Tracer.Output;

/// <summary>
/// One reported line: the drops of one flow at one place for one reason during one interval,
/// with kernel numbers already turned into names. <see cref="Overflow"/> lines stand for drops
/// whose flow did not fit the kernel's aggregate map: they have a count and nothing else.
/// </summary>
internal sealed record DropRecord(
    DateTimeOffset Time,
    DateTimeOffset Last,
    DropFlow? Flow,
    string? Reason,
    string? Location,
    ulong Count,
    ulong Bytes,
    IReadOnlyList<string>? Stack,
    Culprit? Culprit = null)
{
    public bool Overflow => Flow is null;
}

/// <summary>Totals of a whole trace session.</summary>
internal sealed record TraceSummary(
    TimeSpan Duration,
    ulong Drops,
    ulong Bytes,
    ProbeCounters Counters,
    IReadOnlyDictionary<string, ulong> DropsByReason);

/// <summary>
/// Turns the kernel's numbers of an interval into <see cref="DropRecord"/>s; flows that
/// <paramref name="showStack"/> accepts carry the kernel stack of their first sample.
/// </summary>
internal sealed class DropRecordBuilder(KernelSymbols symbols, DropReasons reasons, Attributor attributor,
                                        Func<int, ulong[]> readStack, Func<DropFlow, bool> showStack)
{
    public IReadOnlyList<DropRecord> Build(DropInterval interval)
    {
        var records = new List<DropRecord>(interval.Counts.Count + 1);
        var stacks = FirstStackOfEachFlow(interval);
        foreach (var count in interval.Counts.OrderBy(c => c.FirstNs))
        {
            IReadOnlyList<string>? stack = null;
            if (showStack(count.Flow) && stacks.TryGetValue(count.Flow, out var stackId))
                stack = FromDropSite(readStack(stackId), count.Flow.Location).Select(symbols.Describe).ToList();
            var reason = reasons.Name(count.Flow.Reason);
            records.Add(new DropRecord(
                BootClock.ToWallClock(count.FirstNs),
                BootClock.ToWallClock(count.LastNs),
                count.Flow,
                reason,
                symbols.Describe(count.Flow.Location),
                count.Packets,
                count.Bytes,
                stack,
                attributor.Attribute(count.Flow, reason)));
        }
        if (interval.Counters.OverflowPackets > 0)
        {
            var now = DateTimeOffset.UtcNow;
            records.Add(new DropRecord(now, now, null, null, null, interval.Counters.OverflowPackets, interval.Counters.OverflowBytes, null));
        }
        return records;
    }

    /// <summary>The frames above the drop site are the tracer and the free function itself: noise.</summary>
    private static IEnumerable<ulong> FromDropSite(ulong[] frames, ulong location)
    {
        var site = Array.IndexOf(frames, location);
        return site < 0 ? frames : frames.Skip(site);
    }

    private static Dictionary<DropFlow, int> FirstStackOfEachFlow(DropInterval interval)
    {
        var stacks = new Dictionary<DropFlow, int>();
        foreach (var sample in interval.Samples)
        {
            if (sample.stack_id >= 0)
                stacks.TryAdd(DropFlow.From(sample.key), sample.stack_id);
        }
        return stacks;
    }
}
