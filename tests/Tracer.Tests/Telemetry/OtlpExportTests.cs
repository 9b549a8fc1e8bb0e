using System.Text.Json;
using System.Text.RegularExpressions;
using OpenTelemetry.Proto.Trace.V1;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Telemetry;

/// <summary>
/// A real drop (an nft rule in the node namespace of a Calico-style network) traced by out/tracer,
/// exported over OTLP to a real receiver in that namespace, over gRPC and over HTTP/protobuf.
/// </summary>
[KernelTest]
public sealed class OtlpExportTests : IDisposable
{
    private const int Packets = 25;
    private const int ProbePort = 8885;
    private readonly CalicoNetwork _network = new();
    private readonly Pod _pod;

    public OtlpExportTests() => _pod = _network.AddPod();

    public void Dispose() => _network.Dispose();

    [Theory]
    [InlineData("grpc")]
    [InlineData("http/protobuf")]
    public async Task ADropEpisodeReachesTheCollectorAsOneSpanWithItsCulpritAndCount(string protocol)
    {
        await using var receiver = await OtlpReceiver.StartIn($"/run/netns/{_network.NodeNamespace}");
        var port = protocol == "grpc" ? receiver.GrpcPort : receiver.HttpPort;
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {ProbePort} counter drop");
        bool Flow(JsonElement l) => l.Str("dst") == _pod.IPv4.ToString() && l.Num("dport") == ProbePort;
        var before = DateTimeOffset.UtcNow;
        string stderr;

        using (var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json", "--arm", "always",
                                                        "--otlp-endpoint", $"http://127.0.0.1:{port}", "--otlp-protocol", protocol))
        {
            CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
            tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
            Assert.Equal(0, tracer.Stop()); // ends the open episode and flushes both signals
            stderr = tracer.Stderr;
        }
        var after = DateTimeOffset.UtcNow;

        var resource = Assert.Single(receiver.Spans.Select(s => s.Resource).DistinctBy(r => r.ToString()));
        Assert.Equal("tracer", OtlpReceiver.Attribute(resource.Attributes, "service.name"));
        Assert.False(string.IsNullOrEmpty(OtlpReceiver.Attribute(resource.Attributes, "host.name")));
        var spans = receiver.AllSpans;
        var session = Assert.Single(spans, s => s.Name == "trace session");
        var episodes = spans.Where(s => OtlpReceiver.Attribute(s.Attributes, "destination.port") == ProbePort.ToString()).ToList();
        var episode = Assert.Single(episodes);

        Assert.Equal("drop by nftables-rule", episode.Name);
        Assert.Equal(session.SpanId, episode.ParentSpanId);
        Assert.Equal(session.TraceId, episode.TraceId);
        Assert.Equal(Packets.ToString(), OtlpReceiver.Attribute(episode.Attributes, "tracer.drop.count"));
        Assert.Equal("nftables-rule", OtlpReceiver.Attribute(episode.Attributes, "tracer.culprit.kind"));
        Assert.Equal("edr", OtlpReceiver.Attribute(episode.Attributes, "tracer.culprit.table"));
        Assert.Equal("exact", OtlpReceiver.Attribute(episode.Attributes, "tracer.culprit.confidence"));
        Assert.Equal(_pod.IPv4.ToString(), OtlpReceiver.Attribute(episode.Attributes, "destination.address"));
        Assert.Equal("udp", OtlpReceiver.Attribute(episode.Attributes, "network.transport"));
        Assert.Equal(Status.Types.StatusCode.Error, episode.Status.Code);
        Assert.Contains("nftables rule", episode.Status.Message);
        Assert.NotEmpty(episode.Events);
        // The kernel's drop times, not the export's: inside the run, and the episode inside the session.
        Assert.InRange(ToTime(episode.StartTimeUnixNano), before, after);
        Assert.InRange(ToTime(episode.EndTimeUnixNano), ToTime(episode.StartTimeUnixNano), after);
        Assert.InRange(episode.StartTimeUnixNano, session.StartTimeUnixNano, session.EndTimeUnixNano);

        // The metric names the culprit by its bounded identity, the same as the span's.
        var culpritId = $"nftables:inet/edr/out#{OtlpReceiver.Attribute(episode.Attributes, "tracer.culprit.handle")}";
        Assert.Equal(culpritId, OtlpReceiver.Attribute(episode.Attributes, "tracer.culprit.id"));
        var drops = receiver.SumPoints("tracer.drops")
            .Where(p => OtlpReceiver.Attribute(p.Attributes, "tracer.culprit.id") == culpritId)
            .ToList();
        Assert.NotEmpty(drops);
        Assert.Equal(Packets, drops.Max(p => p.AsInt)); // cumulative: the last point holds the total
        var lost = receiver.SumPoints("tracer.samples_lost");
        Assert.NotEmpty(lost);
        Assert.Equal(long.Parse(Regex.Match(stderr, @"samples lost (\d+)").Groups[1].Value), lost.Max(p => p.AsInt));
    }

    /// <summary>
    /// The collector is down when Tracer starts: tracing goes on, one warning (not one per batch), and
    /// once the collector is up the next episodes and the failure count arrive.
    /// </summary>
    [Fact]
    public async Task AnEndpointThatIsDownCostsOneWarningAndExportResumesWhenItReturns()
    {
        var ns = $"/run/netns/{_network.NodeNamespace}";
        var port = NamespaceSockets.FreePortIn(ns);
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {{ {ProbePort}, {ProbePort + 1} }} counter drop");
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json",
                                                       "--otlp-endpoint", $"http://127.0.0.1:{port}");

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        tracer.WaitForDrops(l => l.Num("dport") == ProbePort, Packets, TimeSpan.FromSeconds(15));
        // The episode ends after 5 s idle and its batch fails; metrics fail every 10 s.
        tracer.WaitForStderr(l => l.Contains("OTLP export", StringComparison.Ordinal), TimeSpan.FromSeconds(25));
        await using var receiver = await OtlpReceiver.StartIn(ns, port);
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort + 1, Packets);
        tracer.WaitForDrops(l => l.Num("dport") == ProbePort + 1, Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());

        Assert.Equal(2 * Packets, tracer.JsonLines().Sum(l => l.Num("count")));
        AssertOneWarningPerSignal(tracer.Stderr, spansFailed: true);
        Assert.Contains(tracer.Stderr.Split('\n'), l => l.Contains("OTLP export of spans", StringComparison.Ordinal) && l.Contains("works again", StringComparison.Ordinal));
        var spans = receiver.AllSpans;
        var later = Assert.Single(spans, s => OtlpReceiver.Attribute(s.Attributes, "destination.port") == (ProbePort + 1).ToString());
        Assert.Equal(Packets.ToString(), OtlpReceiver.Attribute(later.Attributes, "tracer.drop.count"));
        var failures = receiver.SumPoints("tracer.export_failures");
        Assert.Contains(failures, p => p.AsInt >= 1);
    }

    /// <summary>The collector goes away mid-run and comes back: one warning, and export resumes.</summary>
    [Fact]
    public async Task ACollectorThatGoesDownMidRunCostsOneWarningAndExportResumes()
    {
        var ns = $"/run/netns/{_network.NodeNamespace}";
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {{ {ProbePort}, {ProbePort + 1}, {ProbePort + 2} }} counter drop");
        var first = await OtlpReceiver.StartIn(ns);
        var port = first.GrpcPort;
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json",
                                                       "--otlp-endpoint", $"http://127.0.0.1:{port}");

        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
        Poll.Until(() => first.AllSpans.Any(s => s.Name.StartsWith("drop", StringComparison.Ordinal)), TimeSpan.FromSeconds(30),
                   () => "no drop episode reached the collector: " + tracer.Stderr);
        await first.DisposeAsync();
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort + 1, Packets);
        tracer.WaitForStderr(l => l.Contains("OTLP export", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        await using var second = await OtlpReceiver.StartIn(ns, port);
        CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort + 2, Packets);
        tracer.WaitForDrops(l => l.Num("dport") == ProbePort + 2, Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());

        Assert.Equal(3 * Packets, tracer.JsonLines().Sum(l => l.Num("count")));
        AssertOneWarningPerSignal(tracer.Stderr, spansFailed: false);
        var resumed = second.AllSpans;
        Assert.Contains(resumed, s => OtlpReceiver.Attribute(s.Attributes, "destination.port") == (ProbePort + 2).ToString());
    }

    /// <summary>
    /// A collector that takes 10 s to answer each export: while an export waits on it, every round of drops is
    /// still reported within half that time.
    /// </summary>
    [Fact]
    public async Task ASlowCollectorNeverHoldsUpTracing()
    {
        var answersAfter = TimeSpan.FromSeconds(10);
        await using var receiver = await OtlpReceiver.StartIn($"/run/netns/{_network.NodeNamespace}", delay: answersAfter);
        _network.Nft($"add table inet edr; add chain inet edr out {{ type filter hook output priority 10; }}; " +
                     $"add rule inet edr out ip daddr {_pod.IPv4} udp dport {ProbePort} counter drop");
        using var tracer = TracerProcess.StartTracing(_network.NodeNamespace, "trace", "--output", "json",
                                                       "--otlp-endpoint", $"http://127.0.0.1:{receiver.GrpcPort}");

        for (var round = 1; round <= 3; round++)
        {
            // Only a round sent while an export waits shows that tracing does not wait with it (metrics go every 10 s).
            Poll.Until(() => receiver.ExportsWaiting > 0, TimeSpan.FromSeconds(30), () => "no export reached the collector: " + tracer.Stderr);
            CalicoNetwork.SendUdp(_network.NodeNamespace, _pod.IPv4, ProbePort, Packets);
            // Sooner than the collector answers: a tracing loop held up by the export could not report them in time.
            tracer.WaitForDrops(l => l.Num("dport") == ProbePort, round * Packets, answersAfter / 2);
        }
        Assert.Equal(0, tracer.Stop());
    }

    /// <summary>A run of failures is one warning per signal (spans, metrics), not one per batch.</summary>
    private static void AssertOneWarningPerSignal(string stderr, bool spansFailed)
    {
        var lines = stderr.Split('\n');
        int Failures(string signal) => lines.Count(l => l.Contains($"OTLP export of {signal}", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal));
        Assert.InRange(Failures("spans"), spansFailed ? 1 : 0, 1);
        Assert.InRange(Failures("metrics"), 0, 1);
        Assert.InRange(Failures("spans") + Failures("metrics"), 1, 2);
    }

    private static DateTimeOffset ToTime(ulong unixNanos) => DateTimeOffset.UnixEpoch.AddTicks((long)(unixNanos / 100));
}
