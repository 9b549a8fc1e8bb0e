using Tracer.Probes;

namespace Tracer.Records;

/// <summary>Totals of a whole trace session.</summary>
internal sealed record TraceSummary(
    TimeSpan Duration,
    ulong Drops,
    ulong Bytes,
    ProbeCounters Counters,
    IReadOnlyDictionary<string, ulong> DropsByReason);
