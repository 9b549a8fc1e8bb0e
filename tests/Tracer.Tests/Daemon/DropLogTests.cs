using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Daemon;
using Tracer.Discovery;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Daemon;

/// <summary>The daemon's log of drops: a culprit's first drops at once, then a line a minute at most, with the counts in between.</summary>
[UnitTest]
public sealed class DropLogTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);
    private static readonly Culprit Edr = new() { Kind = CulpritKind.KernelModule, Summary = "dropped by edr_hook", Confidence = CulpritConfidence.Exact };
    private static readonly Culprit Rule = new() { Kind = CulpritKind.NftablesRule, Summary = "dropped by a rule", Confidence = CulpritConfidence.Exact };

    private static DropRecord Record(Culprit culprit, ulong count) => new(T0, T0,
        new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("10.244.0.5"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_TCP, 40000, 8885, 7, 0),
        "NETFILTER_DROP", "nf_hook_slow", count, count * 60, null, culprit);

    [Fact]
    public void AFloodIsALineAMinuteWithItsCount_AndEachCulpritHasItsOwn()
    {
        var lines = new Lines();
        var log = new DropLog(lines);

        log.Write([Record(Edr, 5)], PodSnapshot.Empty, T0);
        for (var second = 1; second < 60; second++)
            log.Write([Record(Edr, 10)], PodSnapshot.Empty, T0.AddSeconds(second));
        log.Write([Record(Edr, 10), Record(Rule, 2)], PodSnapshot.Empty, T0.AddSeconds(60));

        Assert.Equal(3, lines.Count);
        Assert.StartsWith("5 drops (", lines[0]);
        Assert.EndsWith("dropped by edr_hook", lines[0]);
        Assert.Equal("600 more drops in the last 60 s: dropped by edr_hook", lines[1]); // 59 s of 10, and the 60th
        Assert.StartsWith("2 drops (", lines[2]);
    }

    [Fact]
    public void ACulpritQuietForTenMinutesIsNewAgainWhenItReturns()
    {
        var lines = new Lines();
        var log = new DropLog(lines);
        log.Write([Record(Edr, 1)], PodSnapshot.Empty, T0);
        log.Write([], PodSnapshot.Empty, T0.AddMinutes(10));
        log.Write([Record(Edr, 1)], PodSnapshot.Empty, T0.AddMinutes(11));
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.StartsWith("1 drops (", l));
    }

    [Fact]
    public void DropsOfAPodsProbeTrafficSayWhichProbeAndWhatTheKubeletWillDo()
    {
        var lines = new Lines();
        var probe = new PodProbe(ProbeKind.Liveness, "app", "httpGet", 8885, "/api/health", null, "HTTP", 10, 3, 1);
        var pods = new PodSnapshot([new LocalPod(new IPNetwork(IPAddress.Parse("10.244.0.5"), 32), "cali1",
                                                 new PodIdentity("shop", "web", "u1", new Dictionary<string, string>()) { Probes = [probe] })], "kubernetes");
        new DropLog(lines).Write([Record(Edr, 2)], pods, T0);
        Assert.StartsWith("2 drops (192.0.2.1:40000 → 10.244.0.5:8885 (shop/web) tcp): ", Assert.Single(lines)); // the pod named beside its address
        Assert.EndsWith("): shop/web: liveness probe traffic (httpGet :8885/api/health) from the kubelet is being dropped: dropped by edr_hook. " +
                        "The kubelet will restart container app after 3 failed probes, 10 s apart", Assert.Single(lines));
    }

    /// <summary>A logger keeping the formatted messages (the real formatting of the message templates).</summary>
    private sealed class Lines : List<string>, ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Add(formatter(state, exception));
    }
}
