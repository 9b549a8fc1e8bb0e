using System.Globalization;
using Spectre.Console;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Output;

/// <summary>How a record reads in a terminal or a log.</summary>
internal static class DropText
{
    /// <param name="pods">Names each side that is a pod of this node, where pods are known by name (the API).</param>
    public static string Flow(DropRecord record, bool showSourcePort = true, PodSnapshot? pods = null)
    {
        if (record.Flow is not { } flow)
            return "(not kept: the drop probe's flow and aggregate maps were full)";
        if (!flow.IsIP)
            return $"ethertype 0x{flow.L3Protocol:x4}";
        var (from, to) = (Pod(flow.Source, pods), Pod(flow.Destination, pods));
        if (flow.IsAggregate)
            return $"{flow.Source?.ToString() ?? "*"}{from} → {flow.Destination?.ToString() ?? "*"}{to} {flow.ProtocolName} (many peers and ports)";
        if (flow.IsIcmp)
            return $"{flow.Source}{from} → {flow.Destination}{to} {flow.ProtocolName} type {flow.SourcePort} code {flow.DestinationPort}";
        var source = showSourcePort ? Endpoint(flow.Source, flow.SourcePort) : flow.Source?.ToString();
        return $"{source}{from} → {Endpoint(flow.Destination, flow.DestinationPort)}{to} {flow.ProtocolName}";
    }

    private static string Endpoint(System.Net.IPAddress? address, ushort port) =>
        address?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";

    private static string Pod(System.Net.IPAddress? address, PodSnapshot? pods) => pods?.Identify(address) is { } pod ? $" ({pod})" : "";

    public static string Line(DropRecord record, PodSnapshot? pods = null)
    {
        var where = record.Flow is { } f ? $"  netns {f.Netns} ifindex {f.Ifindex}" : "";
        var culprit = record.Culprit is { } c ? $"  — {c.Sentence} [{c.Confidence.WireName()}]" : "";
        return FormattableString.Invariant(
            $"{record.Time:O} {record.Count} dropped  {Flow(record, pods: pods)}  reason {record.Reason ?? "-"}  at {record.Location ?? "-"}{where}{culprit}");
    }
}

/// <summary>Plain lines, one per record: for logs and pipes. <paramref name="pods"/>: names the pods, where known by name.</summary>
internal sealed class PlainTextOutput(TextWriter writer, IPodSource? pods = null) : IDropOutput
{
    public void Write(IReadOnlyList<DropRecord> records)
    {
        var snapshot = pods?.Current;
        foreach (var record in records)
        {
            writer.WriteLine(DropText.Line(record, snapshot));
            if (record.Stack is { } stack)
                foreach (var frame in stack)
                    writer.WriteLine($"    {frame}");
        }
        writer.Flush();
    }

    public void Complete(TraceSummary summary) => writer.Flush();

    public void Dispose()
    {
    }
}

/// <summary>
/// A live table of drops by count, refreshed every interval, for a person at a terminal. Rows group
/// a client's connections: the ephemeral source port is left out (JSON output keeps it).
/// <paramref name="pods"/>: names the pods, where known by name.
/// </summary>
internal sealed class LiveTableOutput : IDropOutput
{
    private const int MaxRows = 25;
    private readonly Dictionary<(Probes.DropFlow?, string?), Row> _rows = [];
    private readonly Table _table = new Table().Expand();
    private readonly SemaphoreSlim _updated = new(0);
    private readonly Task _live;
    private readonly IPodSource? _pods;
    private volatile bool _done;

    private sealed class Row(DropRecord first)
    {
        public DropRecord Latest { get; set; } = first;
        public ulong Count { get; set; }
    }

    public LiveTableOutput(IPodSource? pods = null)
    {
        _pods = pods;
        _table.AddColumns("Drops", "Flow", "Reason", "Culprit", "Location", "Last");
        _table.Caption("waiting for drops… (Ctrl-C to stop)");
        _live = AnsiConsole.Live(_table).AutoClear(false).StartAsync(async context =>
        {
            while (!_done)
            {
                await _updated.WaitAsync().ConfigureAwait(false);
                context.Refresh();
            }
        });
    }

    public void Write(IReadOnlyList<DropRecord> records)
    {
        foreach (var record in records)
        {
            var key = (record.Flow is { IsIcmp: false } flow ? flow with { SourcePort = 0 } : record.Flow, record.Location);
            if (!_rows.TryGetValue(key, out var row))
                _rows[key] = row = new Row(record);
            row.Latest = record;
            row.Count += record.Count;
        }
        _table.Rows.Clear();
        var pods = _pods?.Current;
        foreach (var row in _rows.Values.OrderByDescending(r => r.Count).Take(MaxRows))
        {
            var r = row.Latest;
            _table.AddRow(
                row.Count.ToString("N0", CultureInfo.InvariantCulture),
                Markup.Escape(DropText.Flow(r, showSourcePort: false, pods)),
                Markup.Escape(r.Reason ?? "-"),
                Markup.Escape(r.Culprit is { } c ? $"{c.Sentence} [{c.Confidence.WireName()}]" : "-"),
                Markup.Escape(r.Location ?? "-"),
                r.Last.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture));
        }
        var total = _rows.Values.Aggregate(0UL, (sum, r) => sum + r.Count);
        _table.Caption($"{total:N0} drops in {_rows.Count} rows (Ctrl-C to stop)");
        _updated.Release();
    }

    public void Complete(TraceSummary summary)
    {
        _done = true;
        _updated.Release();
        _live.GetAwaiter().GetResult();
    }

    public void Dispose() => _updated.Dispose();
}
