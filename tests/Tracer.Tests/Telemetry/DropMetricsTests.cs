using System.Diagnostics.Metrics;
using System.Net;
using Tracer.Discovery;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Telemetry;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Telemetry;

/// <summary>
/// The drop series as a reader observes them (a <see cref="MeterListener"/>, as the SDK's readers listen): exact
/// counts by pod, culprit and probe; a departed pod's series forgotten; past the cap, pod labels dropped, totals kept.
/// </summary>
[UnitTest]
public sealed class DropMetricsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 3, 0, 0, TimeSpan.Zero);
    private static readonly Culprit Edr = new() { Kind = CulpritKind.BpfProgram, Summary = "BPF program edr", Confidence = CulpritConfidence.Exact, ProgramName = "edr", ProgramId = 7 };
    private static readonly IPAddress Node = IPAddress.Parse("10.244.0.1");

    private static IPAddress PodAddress(int i) => IPAddress.Parse($"10.244.{i / 250 + 1}.{i % 250 + 2}");

    private static PodSnapshot Pods(IEnumerable<int> pods, IReadOnlyList<PodProbe>? probes = null) => new(
        [.. pods.Select(i => new LocalPod(new IPNetwork(PodAddress(i), 32), $"cali{i}",
                                          new PodIdentity("shop", $"web-{i}", $"u{i}", new Dictionary<string, string>()) { Probes = probes ?? [] }))],
        "kubernetes");

    private static DropRecord Drop(int pod, ushort port, ulong count) => new(T0, T0,
        new DropFlow(1, 2, Node, PodAddress(pod), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_TCP, 40000, port, 7, 0),
        "NETFILTER_DROP", "nf_hook_slow", count, count * 60, null, Edr);

    /// <summary>Every series of tracer.drops as one collection sees it: labels → value.</summary>
    private static Dictionary<string, long> Collect(DropMetrics metrics)
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DropMetrics.MeterName && instrument.Name == "tracer.drops")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            seen[string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"))] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }

    [Fact]
    public void DropsAreCountedExactlyByPodCulpritAndProbe()
    {
        using var metrics = new DropMetrics("1.0.0");
        var liveness = new PodProbe(ProbeKind.Liveness, "app", "httpGet", 8885, "/health", null, "HTTP", 10, 3, 1);
        var pods = Pods([0], [liveness]);
        metrics.Count([Drop(0, 8885, 3), Drop(0, 443, 5)], pods, T0);
        metrics.Count([Drop(0, 8885, 4)], pods, T0.AddSeconds(1));

        var series = Collect(metrics);
        Assert.Equal(2, series.Count);
        var probe = Assert.Single(series, s => s.Key.Contains("tracer.probe.kind=liveness", StringComparison.Ordinal));
        Assert.Equal(7, probe.Value);
        Assert.Contains("tracer.culprit.id=bpf:edr", probe.Key);
        Assert.Contains("k8s.pod.name=web-0", probe.Key);
        Assert.Contains("tracer.pod.side=destination", probe.Key);
        Assert.Equal(5, Assert.Single(series, s => !s.Key.Contains("tracer.probe", StringComparison.Ordinal)).Value);
    }

    [Fact]
    public void AnOwnedCulpritsSeriesNamesItsOwner_ByKindAndNameNeverPid()
    {
        using var metrics = new DropMetrics("1.0.0");
        var owned = Edr with
        {
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.Process, Name = "/usr/sbin/edr-agent", Summary = "held by edr-agent (pid 4242)", Confidence = CulpritConfidence.Exact,
                Processes = [new OwnerProcess(4242, "edr-agent", "/usr/sbin/edr-agent", null, null)],
            },
        };
        metrics.Count([Drop(0, 80, 2) with { Culprit = owned }, Drop(0, 80, 1)], Pods([0]), T0);

        var series = Collect(metrics);
        Assert.Equal(2, Assert.Single(series, s => s.Key.Contains("tracer.culprit.owner=process:/usr/sbin/edr-agent", StringComparison.Ordinal)).Value);
        Assert.DoesNotContain(series.Keys, k => k.Contains("4242", StringComparison.Ordinal));
        Assert.Equal(1, Assert.Single(series, s => !s.Key.Contains("tracer.culprit.owner", StringComparison.Ordinal)).Value);
    }

    [Fact]
    public void APodThatLeftIsForgottenTenMinutesAfterItsLastDrop_APodStillThereIsKept()
    {
        using var metrics = new DropMetrics("1.0.0");
        metrics.Count([Drop(0, 80, 1), Drop(1, 80, 1)], Pods([0, 1]), T0);
        var onlyPod1 = Pods([1]);
        metrics.Count([], onlyPod1, T0 + DropMetrics.Forget - TimeSpan.FromMinutes(1));
        Assert.Equal(2, Collect(metrics).Count); // gone, but recently dropped: kept

        metrics.Count([], onlyPod1, T0 + DropMetrics.Forget + TimeSpan.FromMinutes(1));
        var kept = Assert.Single(Collect(metrics));
        Assert.Contains("k8s.pod.name=web-1", kept.Key);
    }

    [Fact]
    public void PastTheCapNewSeriesLosePodLabels_TotalsStayExact()
    {
        using var metrics = new DropMetrics("1.0.0");
        var count = DropMetrics.MaxSeries + 10;
        var pods = Pods(Enumerable.Range(0, count));
        metrics.Count([.. Enumerable.Range(0, count).Select(i => Drop(i, 80, 2))], pods, T0);

        var series = Collect(metrics);
        Assert.Equal(DropMetrics.MaxSeries + 1, series.Count);
        Assert.Equal(2L * count, series.Values.Sum());
        Assert.Equal(20, Assert.Single(series, s => !s.Key.Contains("k8s.pod.name", StringComparison.Ordinal)).Value);
    }
}
