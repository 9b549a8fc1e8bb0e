using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary>nftables itself takes Tracer's marking table as meant.</summary>
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
        Assert.Contains("ip saddr @output_4s0 limit rate 200/second burst 200 packets meta nftrace set 1", table);
    }
}
