using System.Diagnostics.Metrics;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Telemetry;

/// <summary>
/// Tracer's metrics, one set of numbers for every reader (OTLP push, the Prometheus scrape): drops and bytes by pod,
/// side, reason, culprit and probe, and Tracer's own health. Names and labels: docs/metrics.md.
/// </summary>
/// <remarks>
/// The drop counters are observed from a tally kept here rather than counted into the SDK, because the SDK keeps
/// every series of a cumulative counter for the life of the process: on a node whose pods come and go, each pod that
/// ever had a drop would stay a series forever. The tally forgets a pod's series <see cref="Forget"/> after its last
/// drop once the pod has left the node (a scrape then stops showing it; Prometheus marks it stale). Past
/// <see cref="MaxSeries"/> series, new ones are counted without their pod labels: the totals stay exact.
/// </remarks>
internal sealed class DropMetrics : IDisposable
{
    public const string MeterName = "Tracer";

    /// <summary>More than the series of 110 pods × both sides × a few reasons and culprits; the SDK's own limit is 2000 a metric.</summary>
    internal const int MaxSeries = 1500;

    internal static readonly TimeSpan Forget = TimeSpan.FromMinutes(10);

    private readonly Meter _meter;
    private readonly Lock _gate = new(); // the trace loop writes, the readers' threads observe
    private readonly Dictionary<DropSeries, Tally> _series = [];
    private ulong _overflowPackets;
    private TraceProgress _progress;
    private bool _attached;
    private DateTimeOffset _nextSweep;

    public DropMetrics(string version)
    {
        _meter = new Meter(MeterName, version);
        _meter.CreateObservableCounter("tracer.drops", () => Observe(t => t.Packets), "{packet}",
                                       "Packets the kernel dropped, by pod, side, reason, culprit and probe");
        _meter.CreateObservableCounter("tracer.dropped_bytes", () => Observe(t => t.Bytes), "By", "Bytes of the dropped packets");
        _meter.CreateObservableCounter("tracer.aggregate_overflow", () => (long)Read(() => _overflowPackets), "{packet}",
                                       "Drops counted without their flow: the kernel's aggregate map was full or refused the update");
        _meter.CreateObservableCounter("tracer.samples_lost", () => (long)Read(() => _progress.Totals.SamplesLost), "{sample}",
                                       "Drop samples the ring buffer had no room for (counts stay exact)");
        _meter.CreateObservableCounter("tracer.stacks_lost", () => (long)Read(() => _progress.Totals.StacksLost), "{stack}",
                                       "Kernel stacks that could not be kept");
        _meter.CreateObservableCounter("tracer.missed_runs", () => (long)Read(() => _progress.Totals.MissedRuns), "{run}",
                                       "Drops the kernel did not show the probe (it was already running on that CPU)");
        _meter.CreateObservableGauge("tracer.attached", () => Read(() => _attached) ? 1 : 0, null,
                                     "1 while the drop probe is attached and tracing, else 0");
        _meter.CreateObservableGauge("tracer.watched_addresses", () => Read(() => _progress.WatchedAddresses), "{address}",
                                     "Pod addresses and networks the drop probe watches");
        _meter.CreateObservableGauge("tracer.armed_hook_points", () => Read(() => _progress.ArmedHookPoints), "{hook_point}",
                                     "Netfilter hook points where attribution is armed on demand (nftables trace, sentinels, verdict observers)");
        _meter.CreateObservableGauge("tracer.drop_series", () => Read(() => _series.Count), "{series}",
                                     $"Series of tracer.drops kept (at most {MaxSeries}; beyond, new ones lose their pod labels)");
        ExportFailures = _meter.CreateCounter<long>("tracer.export_failures", "{batch}", "OTLP export batches that failed");
    }

    /// <summary>Counted by the OTLP exporters' watches, by signal.</summary>
    public Counter<long> ExportFailures { get; }

    /// <summary>Counts an interval's drops, labelled with the local pod they concern and the probe they break, where known.</summary>
    public void Count(IReadOnlyList<DropRecord> records, PodSnapshot pods, DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var record in records)
            {
                if (record.Overflow)
                {
                    _overflowPackets += record.Count;
                    continue;
                }
                var series = DropSeries.Of(record, pods);
                if (!_series.TryGetValue(series, out var tally) && _series.Count >= MaxSeries)
                {
                    series = series.WithoutPod();
                    tally = _series.GetValueOrDefault(series);
                }
                _series[series] = new Tally(tally.Packets + record.Count, tally.Bytes + record.Bytes, now);
            }
            if (now >= _nextSweep)
            {
                Sweep(pods, now);
                _nextSweep = now + TimeSpan.FromMinutes(1);
            }
        }
    }

    /// <summary>Forgets the series of pods that left the node and dropped nothing for <see cref="Forget"/>.</summary>
    private void Sweep(PodSnapshot pods, DateTimeOffset now)
    {
        var present = pods.Pods.Where(p => p.Identity is not null).Select(p => (p.Identity!.Namespace, p.Identity.Name)).ToHashSet();
        foreach (var gone in _series.Where(s => s.Key.Pod is { } pod && !present.Contains((s.Key.Namespace!, pod)) && now - s.Value.Last >= Forget)
                                    .Select(s => s.Key).ToList())
            _series.Remove(gone);
    }

    /// <summary>How the trace stands (after each interval).</summary>
    public void Observe(TraceProgress progress)
    {
        lock (_gate)
            _progress = progress;
    }

    /// <summary>Whether the drop probe is attached and tracing.</summary>
    public void Attached(bool attached)
    {
        lock (_gate)
            _attached = attached;
    }

    private T Read<T>(Func<T> read)
    {
        lock (_gate)
            return read();
    }

    private List<Measurement<long>> Observe(Func<Tally, ulong> value)
    {
        lock (_gate)
            return [.. _series.Select(s => new Measurement<long>((long)value(s.Value), s.Key.Tags()))];
    }

    public void Dispose() => _meter.Dispose();

    private readonly record struct Tally(ulong Packets, ulong Bytes, DateTimeOffset Last);
}

/// <summary>The labels of one <c>tracer.drops</c> series: all bounded (no address, port or program id).</summary>
internal readonly record struct DropSeries(string Reason, CulpritKind Kind, string CulpritId, string? Owner, string? Namespace, string? Pod, string? Side, string? Probe)
{
    public static DropSeries Of(DropRecord record, PodSnapshot pods)
    {
        var pod = pods.Concerned(record.Flow!);
        return new DropSeries(record.Reason ?? "unknown", record.Culprit?.Kind ?? CulpritKind.Unknown, record.Culprit?.Id ?? "unknown", record.Culprit?.OwnerId,
                              pod?.Identity.Namespace, pod?.Identity.Name, pod?.Side,
                              PodProbe.MostSevere(PodProbe.Matching(record.Flow!, pods))?.KindName);
    }

    public DropSeries WithoutPod() => this with { Namespace = null, Pod = null, Side = null, Probe = null };

    public KeyValuePair<string, object?>[] Tags()
    {
        var tags = new List<KeyValuePair<string, object?>>(8)
        {
            new("tracer.drop.reason", Reason),
            new("tracer.culprit.kind", Kind.WireName()),
            new("tracer.culprit.id", CulpritId),
        };
        if (Owner is not null)
            tags.Add(new("tracer.culprit.owner", Owner));
        if (Pod is not null)
        {
            tags.Add(new("k8s.namespace.name", Namespace));
            tags.Add(new("k8s.pod.name", Pod));
            tags.Add(new("tracer.pod.side", Side));
        }
        if (Probe is not null)
            tags.Add(new("tracer.probe.kind", Probe));
        return [.. tags];
    }
}
