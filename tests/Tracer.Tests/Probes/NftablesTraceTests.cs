using System.Net;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary>Tracer's marking table: the nft commands that make it, and that nftables takes them as meant.</summary>
[UnitTest]
public sealed class NftablesTraceTests
{
    private const byte Prerouting = (byte)nf_inet_hooks.NF_INET_PRE_ROUTING;
    private const byte Output = (byte)nf_inet_hooks.NF_INET_LOCAL_OUT;

    private static readonly string Table = NftablesTrace.TableName;

    internal static readonly TraceMark[] Marks =
    [
        new(Output, IPNetwork.Parse("10.244.0.5/32")),
        new(Output, IPNetwork.Parse("10.244.0.5/32"), Protocol: (byte)IpProto.IPPROTO_UDP, Port: 8887),
        new(Output, IPNetwork.Parse("10.244.1.0/24"), Source: true),
        new(Prerouting, IPNetwork.Parse("fd00::5/128"), Protocol: (byte)IpProto.IPPROTO_TCP),
        new(Output, IPNetwork.Parse("10.244.0.6/32")),
    ];

    [Fact]
    public void PerHookPointAChainAheadOfAllOthersMarksThePacketsOfOneSetPerFamilySideAndShape()
    {
        // Derived by hand from the marks: hook points in order; within one, IPv6 before IPv4, destination before source,
        // address before address . protocol before address . protocol . port; a whole address without its prefix length.
        string Chain(string hook) => $"add chain inet {Table} {hook} {{ type filter hook {hook} priority -2147483646; policy accept; }}";
        string Rule(string chain, string selector, string set) =>
            $"add rule inet {Table} {chain} {selector} @{set} limit rate 50/second burst 50 packets meta nftrace set 1";
        string[] expected =
        [
            $"add table inet {Table}",
            Chain("prerouting"),
            $"add set inet {Table} prerouting_6d1 {{ type ipv6_addr . inet_proto; }}",
            Rule("prerouting", "ip6 daddr . meta l4proto", "prerouting_6d1"),
            $"add element inet {Table} prerouting_6d1 {{ fd00::5 . 6 }}",
            Chain("output"),
            $"add set inet {Table} output_4d0 {{ type ipv4_addr; flags interval; }}",
            Rule("output", "ip daddr", "output_4d0"),
            $"add element inet {Table} output_4d0 {{ 10.244.0.5, 10.244.0.6 }}",
            $"add set inet {Table} output_4d2 {{ type ipv4_addr . inet_proto . inet_service; }}",
            Rule("output", "ip daddr . meta l4proto . th dport", "output_4d2"),
            $"add element inet {Table} output_4d2 {{ 10.244.0.5 . 17 . 8887 }}",
            $"add set inet {Table} output_4s0 {{ type ipv4_addr; flags interval; }}",
            Rule("output", "ip saddr", "output_4s0"),
            $"add element inet {Table} output_4s0 {{ 10.244.1.0/24 }}",
        ];

        Assert.Equal(expected, NftablesTrace.TableContents(Marks));
    }

    [Fact]
    public void AMarkGivenTwiceIsOneElement()
    {
        var contents = NftablesTrace.TableContents([Marks[0], Marks[0]]);

        Assert.Equal($"add element inet {Table} output_4d0 {{ 10.244.0.5 }}", contents[^1]);
    }
}
