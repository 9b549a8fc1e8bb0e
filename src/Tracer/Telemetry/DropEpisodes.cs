using System.Net;
using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Output;

namespace Tracer.Telemetry;

/// <summary>
/// One culprit dropping one flow (client, server address and port, transport) over a window: what a
/// span stands for, so a flood is one span with a count rather than a span per packet.
/// </summary>
internal sealed class DropEpisode(DropRecord first, PodSnapshot pods)
{
    /// <summary>The node's pods when the episode began: a pod deleted since is still named on its span.</summary>
    public PodSnapshot Pods { get; } = pods;

    public const int SampledRecords = 5;

    public DateTimeOffset Start { get; } = first.Time;
    public DateTimeOffset Last { get; private set; } = first.Last;
    public DropRecord First { get; } = first;
    public Culprit? Culprit { get; } = first.Culprit;
    public ulong Count { get; private set; }
    public ulong Bytes { get; private set; }

    /// <summary>The flow's client used more than one source port (only then is none of them reported).</summary>
    public bool SeveralSourcePorts { get; private set; }

    /// <summary>The first few records of the episode, kept as span events.</summary>
    public List<DropRecord> Samples { get; } = [];

    public void Add(DropRecord record)
    {
        Count += record.Count;
        Bytes += record.Bytes;
        if (record.Last > Last)
            Last = record.Last;
        if (record.Flow is { } flow && flow.SourcePort != First.Flow!.SourcePort)
            SeveralSourcePorts = true;
        if (Samples.Count < SampledRecords)
            Samples.Add(record);
    }
}

/// <summary>
/// Groups records into <see cref="DropEpisode"/>s: an episode ends when its culprit has dropped
/// nothing of that flow for <see cref="IdleTimeout"/>, when it has lasted <see cref="MaxLength"/>, or
/// when the session ends. At most <see cref="MaxOpen"/> are open (a port scan opens one per port):
/// beyond, the longest idle ones end early, so memory stays bounded.
/// </summary>
internal sealed class DropEpisodes
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan MaxLength = TimeSpan.FromMinutes(1);
    public const int MaxOpen = 4096;

    private readonly Dictionary<(uint, IPAddress?, IPAddress?, byte, ushort, string), DropEpisode> _open = [];

    /// <summary>Adds an interval's records; returns the episodes that ended by <paramref name="now"/>.</summary>
    public List<DropEpisode> Add(IReadOnlyList<DropRecord> records, DateTimeOffset now, PodSnapshot pods)
    {
        foreach (var record in records.Where(r => !r.Overflow))
        {
            var flow = record.Flow!;
            var key = (flow.Netns, flow.Source, flow.Destination, flow.L4Protocol, flow.DestinationPort,
                       record.Culprit is null ? record.Reason ?? "" : CulpritKey(record.Culprit));
            if (!_open.TryGetValue(key, out var episode))
                _open[key] = episode = new DropEpisode(record, pods);
            episode.Add(record);
        }
        var ended = Close(e => now - e.Last >= IdleTimeout || now - e.Start >= MaxLength);
        if (_open.Count > MaxOpen)
        {
            var oldest = _open.Values.OrderBy(e => e.Last).Take(_open.Count - MaxOpen).ToHashSet();
            ended.AddRange(Close(oldest.Contains));
        }
        return ended;
    }

    /// <summary>Ends every open episode (the session is over).</summary>
    public List<DropEpisode> CloseAll() => Close(_ => true);

    private List<DropEpisode> Close(Func<DropEpisode, bool> ended)
    {
        var closed = _open.Where(e => ended(e.Value)).ToList();
        foreach (var (key, _) in closed)
            _open.Remove(key);
        return [.. closed.Select(e => e.Value)];
    }

    /// <summary>What makes two culprits the same one: kind and the fields that name it.</summary>
    private static string CulpritKey(Culprit? c) => c is null ? "" :
        $"{c.Kind}|{c.Table}|{c.Chain}|{c.Handle}|{c.Function}|{c.Module}|{c.ProgramId}|{c.Hook}|{c.Priority}|{c.LsmName}";
}
