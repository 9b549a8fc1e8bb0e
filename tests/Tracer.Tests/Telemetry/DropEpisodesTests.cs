using System.Net;
using Tracer.Discovery;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Telemetry;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Telemetry;

/// <summary>How records become episodes (one span each): per culprit and pod, ended by idleness, length or the session's end.</summary>
[UnitTest]
public sealed class DropEpisodesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);
    private static readonly Culprit Rule = new() { Kind = CulpritKind.NftablesRule, Summary = "rule", Confidence = CulpritConfidence.Exact, Table = "edr", Chain = "out", Handle = 2 };
    private static readonly Culprit Module = new() { Kind = CulpritKind.KernelModule, Summary = "module", Confidence = CulpritConfidence.Exact, Function = "edr_hook", Module = "edr" };

    private static DropRecord Record(DateTimeOffset at, ushort sourcePort, ushort port = 8080, Culprit? culprit = null, ulong count = 3,
                                     string pod = "10.244.0.5", string client = "192.0.2.1") =>
        new(at, at.AddMilliseconds(10),
            new DropFlow(1, 2, IPAddress.Parse(client), IPAddress.Parse(pod), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, sourcePort, port, 7, 0),
            "NETFILTER_DROP", "nft_do_chain", count, count * 40, null, culprit ?? Rule);

    [Fact]
    public void DropsOfOneFlowByOneCulpritAreOneEpisodeWhateverTheClientPort()
    {
        var episodes = new DropEpisodes();

        Assert.Empty(episodes.Add([Record(T0, 40000), Record(T0.AddSeconds(1), 40001)], T0.AddSeconds(1), PodSnapshot.Empty));
        var episode = Assert.Single(episodes.CloseAll());

        Assert.Equal(6UL, episode.Count);
        Assert.Equal(240UL, episode.Bytes);
        Assert.Equal(T0, episode.Start);
        Assert.Equal(T0.AddSeconds(1).AddMilliseconds(10), episode.Last);
        Assert.True(episode.SeveralSourcePorts);
    }

    [Fact]
    public void ADifferentCulpritIsAnotherEpisode_AnotherPortOrPeerOfThePodIsNot()
    {
        var episodes = new DropEpisodes();

        episodes.Add([Record(T0, 40000), Record(T0, 40000, culprit: Module), Record(T0, 40000, port: 9090, client: "192.0.2.2")], T0, PodSnapshot.Empty);

        var ended = episodes.CloseAll();
        Assert.Equal(2, ended.Count);
        var rule = Assert.Single(ended, e => e.Culprit == Rule);
        Assert.Equal(2, rule.Ports.Count);
        Assert.Equal(2, rule.Peers.Count);
    }

    [Fact]
    public void AnEpisodeEndsAfterItsCulpritIsIdleOrItHasLastedAMinute()
    {
        var episodes = new DropEpisodes();
        episodes.Add([Record(T0, 40000)], T0, PodSnapshot.Empty);

        Assert.Empty(episodes.Add([], T0.AddSeconds(4), PodSnapshot.Empty));
        Assert.Single(episodes.Add([], T0.AddSeconds(6), PodSnapshot.Empty));

        for (var second = 0; second <= 60; second++)
        {
            var ended = episodes.Add([Record(T0.AddSeconds(100 + second), 40000)], T0.AddSeconds(100 + second), PodSnapshot.Empty);
            Assert.Equal(second == 60 ? 1 : 0, ended.Count);
        }
    }

    [Fact]
    public void APortScanByOneCulpritIsOneEpisodeCountingItsPortsAndItsAggregatedDrops()
    {
        var episodes = new DropEpisodes();
        var scan = Enumerable.Range(1, 1000).Select(port => Record(T0.AddMilliseconds(port), 40000, (ushort)port, count: (ulong)(port <= 3 ? 50 : 1))).ToList();
        var aggregate = Record(T0.AddSeconds(1), 0, 0, count: 5000) is var r ? r with { Flow = r.Flow!.Coarse(sourceWatched: false) } : null;

        episodes.Add([.. scan, aggregate!], T0.AddSeconds(1), PodSnapshot.Empty);

        var episode = Assert.Single(episodes.CloseAll());
        Assert.Equal(3 * 50 + 997 + 5000UL, episode.Count);
        Assert.Equal(5000UL, episode.AggregatedDrops);
        Assert.Equal(1000, episode.Ports.Count);
        Assert.Single(episode.Peers);
        Assert.StartsWith("1 (50), 2 (50), 3 (50), ", DropEpisode.MostDropped(episode.Ports));
        var attributes = TelemetryOutput.EpisodeAttributes(episode).ToDictionary(a => a.Key, a => a.Value);
        Assert.Equal(1000L, attributes["tracer.episode.ports"]);
        Assert.Equal(5000L, attributes["tracer.episode.aggregated_drops"]);
        Assert.False(attributes.ContainsKey("destination.port")); // many ports: none is the episode's
        Assert.False(attributes.ContainsKey("source.address")); // one peer among the flows, but the aggregate's peers are unknown
        Assert.Equal("10.244.0.5", attributes["destination.address"]); // the pod
    }

    [Fact]
    public void ManyDroppingPodsCannotOpenEpisodesWithoutBound()
    {
        var episodes = new DropEpisodes();
        var pods = Enumerable.Range(1, DropEpisodes.MaxOpen + 100)
            .Select(i => Record(T0.AddMilliseconds(i), 40000, pod: $"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")).ToList();

        var ended = episodes.Add(pods, T0.AddSeconds(1), PodSnapshot.Empty);

        Assert.Equal(100, ended.Count);
        Assert.All(ended, e => Assert.True(e.First.Time <= T0.AddMilliseconds(100))); // the longest idle went first
        Assert.Equal(DropEpisodes.MaxOpen, episodes.CloseAll().Count);
    }
}
