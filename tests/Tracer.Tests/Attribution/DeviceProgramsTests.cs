using Tracer.Attribution;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// The BPF programs of a device, from iproute2's JSON. The documents are real output of Debian 12's iproute2
/// (6.1) for a veth with a cls_bpf filter beside u32 filters (<c>tc -j filter show dev calitest1 egress</c>)
/// and with generic XDP (<c>ip -j link show dev calitest1</c>).
/// </summary>
[UnitTest]
public sealed class DeviceProgramsTests
{
    [Fact]
    public void OfTcFiltersOnlyTheBpfFilterWithItsProgramIsClaimed()
    {
        // u32 filters, and the bpf filter's own header entry (no options), run no BPF program.
        const string filters = """
            [{"protocol":"ip","pref":5,"kind":"u32","chain":0},{"protocol":"ip","pref":5,"kind":"u32","chain":0,"options":{"fh":"800:","ht_divisor":1}},{"protocol":"ip","pref":5,"kind":"u32","chain":0,"options":{"fh":"800::800","order":2048,"key_ht":"800","bkt":"0","flowid":"1:1","not_in_hw":true,"match":{"value":"35","mask":"ffff","offmask":"","off":20}}},{"protocol":"all","pref":49152,"kind":"bpf","chain":0},{"protocol":"all","pref":49152,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"wt14-tc_drop.o:[tc]","direct-action":true,"not_in_hw":true,"prog":{"id":6774,"name":"tc_drop","tag":"e705cfa3e70ad4b6","jited":1}}}]
            """;

        var program = Assert.Single(DevicePrograms.ParseTc(filters, "calitest1", "egress"));

        Assert.Equal(new DeviceProgram(6774, "tc_drop", "calitest1", CulpritAttach.Tc), program);
    }

    [Theory]
    [InlineData("[]\n")] // tc's answer for a direction without filters
    [InlineData("")] // tc printed nothing
    public void NoFiltersNoPrograms(string filters) => Assert.Empty(DevicePrograms.ParseTc(filters, "calitest1", "ingress"));

    [Fact]
    public void TheXdpProgramOfALinkIsClaimed()
    {
        const string link = """
            [{"ifindex":3,"link":"peer1","ifname":"calitest1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"xdp":{"mode":2,"prog":{"id":6779,"name":"xdp_drop","tag":"fd3e86151225e156","jited":1},"attached":[{"mode":2,"prog":{"id":6779,"name":"xdp_drop","tag":"fd3e86151225e156","jited":1}}]},"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"8a:dc:0f:61:a7:02","broadcast":"ff:ff:ff:ff:ff:ff"}]
            """;

        var program = Assert.Single(DevicePrograms.ParseXdp(link, "calitest1"));

        Assert.Equal(new DeviceProgram(6779, "xdp_drop", "calitest1", CulpritAttach.Xdp), program);
    }

    [Fact]
    public void ALinkWithoutXdpHasNoProgram()
    {
        const string link = """
            [{"ifindex":2,"link":"calitest1","ifname":"peer1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"9a:08:8e:cb:7c:2c","broadcast":"ff:ff:ff:ff:ff:ff"}]
            """;

        Assert.Empty(DevicePrograms.ParseXdp(link, "peer1"));
    }
}
