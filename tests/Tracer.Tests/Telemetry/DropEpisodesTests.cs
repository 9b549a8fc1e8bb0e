using System.Net;
using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Telemetry;

namespace Tracer.Tests.Telemetry;

/// <summary>How records become episodes (one span each): per culprit and flow, ended by idleness, length or the session's end.</summary>
public sealed class DropEpisodesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);
    private static readonly Culprit Rule = new() { Kind = Culprit.NftablesRule, Summary = "rule", Confidence = Culprit.Exact, Table = "edr", Chain = "out", Handle = 2 };
    private static readonly Culprit Module = new() { Kind = Culprit.KernelModule, Summary = "module", Confidence = Culprit.Exact, Function = "edr_hook", Module = "edr" };

    private static DropRecord Record(DateTimeOffset at, ushort sourcePort, ushort port = 8080, Culprit? culprit = null, ulong count = 3) =>
        new(at, at.AddMilliseconds(10),
            new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("10.244.0.5"), 0x0800, 17, sourcePort, port, 7, 0),
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
    public void ADifferentCulpritOrServerPortIsAnotherEpisode()
    {
        var episodes = new DropEpisodes();

        episodes.Add([Record(T0, 40000), Record(T0, 40000, culprit: Module), Record(T0, 40000, port: 9090)], T0, PodSnapshot.Empty);

        Assert.Equal(3, episodes.CloseAll().Count);
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
    public void APortScanCannotOpenEpisodesWithoutBound()
    {
        var episodes = new DropEpisodes();
        var scan = Enumerable.Range(1, DropEpisodes.MaxOpen + 100).Select(port => Record(T0.AddMilliseconds(port), 40000, (ushort)port)).ToList();

        var ended = episodes.Add(scan, T0.AddSeconds(1), PodSnapshot.Empty);

        Assert.Equal(100, ended.Count);
        Assert.All(ended, e => Assert.True(e.First.Flow!.DestinationPort <= 100)); // the longest idle went first
        Assert.Equal(DropEpisodes.MaxOpen, episodes.CloseAll().Count);
    }
}
