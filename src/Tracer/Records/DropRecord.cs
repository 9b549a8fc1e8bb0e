using Tracer.Probes;

namespace Tracer.Records;

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
