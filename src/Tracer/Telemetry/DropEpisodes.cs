using System.Net;
using Tracer.Discovery;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Telemetry;

/// <summary>
/// One culprit dropping the packets of one watched address (a pod: its destination side, or its source
/// side) of one transport over a window: what a span stands for, so a flood, a scan or a probe that
/// keeps failing is one span with counts rather than a span per packet or per port. The peers and ports
/// it hit are counted (distinct, and the most dropped); drops the probe kept only as an aggregate of the
/// address (past its per-pod flow budget) add to the count but name no peer or port.
/// </summary>
internal sealed class DropEpisode(DropRecord first, bool podIsSource, PodSnapshot pods)
{
    /// <summary>Distinct peers and ports counted per episode; past this the distinct counts are lower bounds.</summary>
    public const int MaxDistinct = 4096;

    public const int SampledRecords = 5;
    public const int Top = 5;

    /// <summary>The node's pods when the episode began: a pod deleted since is still named on its span.</summary>
    public PodSnapshot Pods { get; } = pods;

    public DateTimeOffset Start { get; } = first.Time;
    public DateTimeOffset Last { get; private set; } = first.Last;
    public DropRecord First { get; } = first;
    public Culprit? Culprit { get; } = first.Culprit;

    /// <summary>The watched side is the source (the pod sent the dropped packets), not the destination.</summary>
    public bool PodIsSource { get; } = podIsSource;

    public ulong Count { get; private set; }
    public ulong Bytes { get; private set; }

    /// <summary>Drops counted under the address's aggregate: no peer or port is known for them.</summary>
    public ulong AggregatedDrops { get; private set; }

    /// <summary>Drops per peer address (the other side) and per destination port, up to <see cref="MaxDistinct"/> of each.</summary>
    public Dictionary<IPAddress, ulong> Peers { get; } = [];
    public Dictionary<ushort, ulong> Ports { get; } = [];

    /// <summary>More than one client port was seen (only then is none of them reported).</summary>
    public bool SeveralSourcePorts { get; private set; }

    /// <summary>The first few records of the episode, kept as span events.</summary>
    public List<DropRecord> Samples { get; } = [];

    public void Add(DropRecord record)
    {
        Count += record.Count;
        Bytes += record.Bytes;
        if (record.Last > Last)
            Last = record.Last;
        var flow = record.Flow!;
        if (flow.IsAggregate)
        {
            AggregatedDrops += record.Count;
            return;
        }
        if (flow.SourcePort != First.Flow!.SourcePort)
            SeveralSourcePorts = true;
        if ((PodIsSource ? flow.Destination : flow.Source) is { } peer)
            Tally(Peers, peer, record.Count);
        if (!flow.IsIcmp)
            Tally(Ports, flow.DestinationPort, record.Count);
        if (Samples.Count < SampledRecords)
            Samples.Add(record);
    }

    private static void Tally<T>(Dictionary<T, ulong> counts, T key, ulong count) where T : notnull
    {
        if (counts.TryGetValue(key, out var known))
            counts[key] = known + count;
        else if (counts.Count < MaxDistinct)
            counts[key] = count;
    }

    /// <summary>The most dropped of <paramref name="counts"/>, as "key (count)".</summary>
    public static string MostDropped<T>(Dictionary<T, ulong> counts) where T : notnull =>
        string.Join(", ", counts.OrderByDescending(c => c.Value).Take(Top).Select(c => $"{c.Key} ({c.Value})"));
}

/// <summary>
/// Groups records into <see cref="DropEpisode"/>s: an episode ends when its culprit has dropped
/// nothing of that pod for <see cref="IdleTimeout"/>, when it has lasted <see cref="MaxLength"/>, or
/// when the session ends. At most <see cref="MaxOpen"/> are open (one per pod, culprit and transport,
/// so only a node with thousands of dropping pods gets there): beyond, the longest idle ones end early,
/// so memory stays bounded.
/// </summary>
internal sealed class DropEpisodes
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan MaxLength = TimeSpan.FromMinutes(1);
    public const int MaxOpen = 4096;

    private readonly Dictionary<(uint, IPAddress?, bool, byte, string?, CulpritIdentity?), DropEpisode> _open = [];

    /// <summary>Adds an interval's records; returns the episodes that ended by <paramref name="now"/>.</summary>
    public List<DropEpisode> Add(IReadOnlyList<DropRecord> records, DateTimeOffset now, PodSnapshot pods)
    {
        foreach (var record in records.Where(r => !r.Overflow))
        {
            var flow = record.Flow!;
            var podIsSource = PodIsSource(flow, pods);
            var key = (flow.Netns, podIsSource ? flow.Source : flow.Destination, podIsSource, flow.L4Protocol,
                       record.Culprit is null ? record.Reason ?? "" : null, record.Culprit?.Identity);
            if (!_open.TryGetValue(key, out var episode))
                _open[key] = episode = new DropEpisode(record, podIsSource, pods);
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

    /// <summary>
    /// Which side of a drop is the watched one: an aggregate's kept side; else the destination when it is a local
    /// pod, the source when only that is, and the destination when neither is known (an --ip address).
    /// </summary>
    private static bool PodIsSource(DropFlow flow, PodSnapshot pods) => flow.IsAggregate
        ? flow.Destination is null
        : pods.Identify(flow.Destination) is null && pods.Identify(flow.Source) is not null;

    /// <summary>Ends every open episode (the session is over).</summary>
    public List<DropEpisode> CloseAll() => Close(_ => true);

    private List<DropEpisode> Close(Func<DropEpisode, bool> ended)
    {
        var closed = _open.Where(e => ended(e.Value)).ToList();
        foreach (var (key, _) in closed)
            _open.Remove(key);
        return [.. closed.Select(e => e.Value)];
    }
}
