using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// The counters of an iptables-legacy chain, read from <c>iptables-legacy -L CHAIN -v -x -n --line-numbers</c>.
/// The listings are that command's real output (iptables v1.8.9, legacy), counters set with <c>-c</c> or made by traffic.
/// </summary>
[UnitTest]
public sealed class IptablesLegacyTests
{
    [Fact]
    public void EachRulesPacketCounterIsReadByItsLineNumber_Exactly()
    {
        const string listing = """
            Chain KUBE-FIREWALL-TEST (1 references)
            num      pkts      bytes target     prot opt in     out     source               destination         
            1           3       90 DROP       17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:8887
            2    6000000000 480000000000 ACCEPT     0    --  *      *       0.0.0.0/0            10.96.0.0/12         /* kube-proxy: 1 2 3 */
            3           0        0 REJECT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            reject-with tcp-reset

            """;

        var counters = IptablesLegacy.ParseCounters(listing);

        // Packets, not bytes; past 2^32 as the kernel counts them.
        Assert.Equal(new Dictionary<int, long> { [1] = 3, [2] = 6_000_000_000, [3] = 0 }, counters);
    }

    [Fact]
    public void AChainWithoutRulesHasNoCounters()
    {
        const string listing = """
            Chain EMPTY (0 references)
            num      pkts      bytes target     prot opt in     out     source               destination         

            """;

        Assert.Empty(IptablesLegacy.ParseCounters(listing));
    }

    [Fact]
    public void AbbreviatedCountersAreNotTakenForCounts()
    {
        // Without -x iptables rounds large counters ("123K"): such a rule has no count rather than a wrong one.
        const string listing = """
            Chain EDR (0 references)
            num   pkts bytes target     prot opt in     out     source               destination         
            1     123K 9877K DROP       17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:8887
            2       12   480 RETURN     0    --  *      *       0.0.0.0/0            0.0.0.0/0           

            """;

        Assert.Equal(new Dictionary<int, long> { [2] = 12 }, IptablesLegacy.ParseCounters(listing));
    }
}
