using System.Net.Sockets;
using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// /proc/net/netfilter/nfnetlink_queue (net/netfilter/nfnetlink_queue.c: seq_show) and /proc/net/netlink
/// (net/netlink/af_netlink.c: netlink_seq_show) as this machine's 6.18 wrote them with a listener bound to queue 100.
/// </summary>
[UnitTest]
public sealed class NfQueueListenersTests
{
    private const string Queues = "  100   7922     0 1     0     0     0        3  1\n  101 4294962103    12 2 65535     4     0       90  1\n";

    private const string Netlink = """
        sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
        0000000007a43d48 0   0          00000000 0        0        0     2        0        1723023 
        000000003375f32b 12  0          00000000 0        0        0     2        0        1723030 
        000000006d10fb8d 12  7922       00000000 0        0        0     2        0        1723677 
        00000000b1e2c0aa 0   7922       00000000 0        0        0     2        0        1723690 

        """;

    [Fact]
    public void EachQueueNamesItsListenersPortId() =>
        Assert.Equal(new Dictionary<ushort, uint> { [100] = 7922, [101] = 4294962103 }, NfQueueListeners.Parse(Queues));

    [Theory]
    [InlineData("")]
    // The netlink table's header and rows are not queues.
    [InlineData(Netlink)]
    // A queue number past 16 bits is no NFQUEUE.
    [InlineData("70000   7922     0 1     0     0     0        3  1\n")]
    public void WhatIsNotAQueueLineIsNotClaimed(string text) => Assert.Empty(NfQueueListeners.Parse(text));

    [Fact]
    public void TheListenersSocketIsTheNetfilterOneOfItsPortId() =>
        Assert.Equal(1723677ul, NfQueueListeners.SocketInode(Netlink, 12, 7922));

    [Fact]
    public void TheKernelsOwnSocketAndOtherProtocolsAreNotTheListener()
    {
        Assert.Null(NfQueueListeners.SocketInode(Netlink, 12, 1));
        // Port id 7922 of NETLINK_ROUTE is another socket.
        Assert.Equal(1723690ul, NfQueueListeners.SocketInode(Netlink, 0, 7922));
        Assert.Null(NfQueueListeners.SocketInode(Queues, 12, 7922));
    }

    [Fact]
    public void ASocketsHoldersAreFoundByItsInode()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var link = new FileInfo($"/proc/self/fd/{socket.Handle}").LinkTarget!;
        var inode = ulong.Parse(link["socket:[".Length..^1], System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal([Environment.ProcessId], NfQueueListeners.SocketHolders(inode));
    }
}
