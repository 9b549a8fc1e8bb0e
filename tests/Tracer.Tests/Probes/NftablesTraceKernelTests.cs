using System.Text.Json;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary>nftables itself takes Tracer's marking table as meant, and Tracer reads its trace through what a node does to a process.</summary>
[KernelTest]
public sealed class NftablesTraceKernelTests
{
    private static readonly string Table = NftablesTrace.TableName;

    [Fact]
    public void NftablesTakesTheTableAndMarksWhatWasAsked()
    {
        // In a namespace of its own (deleted with the network): nothing else sees the table.
        using var network = new CalicoNetwork();
        var commands = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(commands, NftablesTrace.TableContents(NftablesTraceTests.Marks));
            Shell.Check("ip", "netns", "exec", network.NodeNamespace, "nft", "-f", commands);
        }
        finally
        {
            File.Delete(commands);
        }

        var table = Shell.Check("ip", "netns", "exec", network.NodeNamespace, "nft", "list", "table", "inet", Table);
        // nft lists protocols by name.
        Assert.Contains("type filter hook prerouting priority -2147483646; policy accept;", table);
        Assert.Contains("type filter hook output priority -2147483646; policy accept;", table);
        Assert.Contains("elements = { fd00::5 . tcp }", table);
        Assert.Contains("elements = { 10.244.0.5, 10.244.0.6 }", table);
        Assert.Contains("elements = { 10.244.0.5 . udp . 8887 }", table);
        Assert.Contains("elements = { 10.244.1.0/24 }", table);
        Assert.Contains("ip saddr @output_4s0 limit rate 50/second burst 50 packets meta nftrace set 1", table);
    }

    /// <summary>
    /// A Tracer stopped and continued (a debugger, the cgroup freezer) has its trace reader's receive cut short: a receive
    /// with SO_RCVTIMEO is not restarted after a stop (EINTR). It must go on reading, and the trace go on naming rules.
    /// </summary>
    [Fact]
    public void AStoppedAndContinuedTracerGoesOnReadingTheTrace()
    {
        const int Port = 8885, Packets = 20;
        using var network = new CalicoNetwork();
        var pod = network.AddPod();
        network.Nft("add table inet edr; add chain inet edr out { type filter hook output priority 10; }; " +
                    $"add rule inet edr out ip daddr {pod.IPv4} udp dport {Port} counter drop");
        bool Flow(JsonElement l) => l.Str("dst") == pod.IPv4.ToString() && l.Num("dport") == Port;
        using var tracer = TracerProcess.StartTracing(network.NodeNamespace, "trace", "--output", "json", "--arm", "always");

        for (var i = 0; i < 5; i++)
        {
            tracer.Signal("STOP");
            Thread.Sleep(50);
            tracer.Signal("CONT");
            Thread.Sleep(150); // past the reader's 100 ms receive timeout: its next receive is interrupted too
        }
        CalicoNetwork.SendUdp(network.NodeNamespace, pod.IPv4, Port, Packets);
        tracer.WaitForDrops(Flow, Packets, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());

        var lines = tracer.JsonLines().Where(Flow).ToList();
        Assert.Equal(Packets, lines.Sum(l => l.Num("count")));
        Assert.All(lines, l => Assert.Equal(("exact", network.NftRuleHandle("inet edr out", $"udp dport {Port}")),
                                            (l.Culprit().Str("confidence"), l.Culprit().Num("handle"))));
    }
}
