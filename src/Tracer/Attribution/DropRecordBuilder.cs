using Tracer.Kernel;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Turns the kernel's numbers of an interval into <see cref="DropRecord"/>s, each flow's culprit named by
/// <see cref="Attributor"/>; flows that <paramref name="showStack"/> accepts carry the kernel stack of their first sample.
/// </summary>
internal sealed class DropRecordBuilder(KernelSymbols symbols, DropReasons reasons, Func<int, ulong[]> readStack, Func<DropFlow, bool> showStack)
{
    public IReadOnlyList<DropRecord> Build(DropInterval interval, Func<DropFlow, string, Culprit> culpritOf)
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
                culpritOf(count.Flow, reason)));
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
