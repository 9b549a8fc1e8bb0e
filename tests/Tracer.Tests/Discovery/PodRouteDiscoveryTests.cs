using System.Net;
using Tracer.Discovery;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

[UnitTest]
public sealed class PodRouteDiscoveryTests
{
    // As the kernel prints them: a Calico pod, a Cilium pod, the default route, the node subnet,
    // a CNI bridge subnet, and a host route on a non-pod device.
    private const string IPv4Routes = """
        Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
        eth0	00000000	0102000A	0003	0	0	0	00000000	0	0	0
        eth0	0002000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
        cali1a2b3c	BAD4B1B1	00000000	0005	0	0	0	FFFFFFFF	0	0	0
        lxc0f00	0501F40A	00000000	0005	0	0	0	FFFFFFFF	0	0	0
        cni0	0001F40A	00000000	0001	0	0	0	00FFFFFF	0	0	0
        eth1	0700000A	00000000	0005	0	0	0	FFFFFFFF	0	0	0
        """;

    private const string IPv6Routes = """
        fd000000000000000000000000000005 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00000001 cali1a2b3c
        fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 cali1a2b3c
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0
        00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001 lo
        """;

    [Fact]
    public void FindsPodHostRoutesOnCniVethsAndBridgeSubnets()
    {
        var routes = PodRouteDiscovery.Discover(IPv4Routes, IPv6Routes, isBridge: name => name == "cni0");

        Assert.Equal(
            new[]
            {
                new PodRoute(IPNetwork.Parse("177.177.212.186/32"), "cali1a2b3c"),
                new PodRoute(IPNetwork.Parse("10.244.1.5/32"), "lxc0f00"),
                new PodRoute(IPNetwork.Parse("10.244.1.0/24"), "cni0"),
                new PodRoute(IPNetwork.Parse("fd00::5/128"), "cali1a2b3c"),
            },
            routes);
    }

    [Theory]
    [InlineData("eni3f9a1c0b7d2", true)] // AWS VPC CNI
    [InlineData("azv5b2c4e1f0a", true)] // Azure CNI
    [InlineData("gke8d1e2f3a4b5", true)] // GKE
    [InlineData("antrea-gw0", false)] // OVS-based: pods are behind the OVS bridge, not one device each
    [InlineData("ovn-k8s-mp0", false)]
    public void HostRoutesOnEachCnisPodDevicesAreFound(string device, bool pod)
    {
        // 10.0.1.23/32 on that device, as the kernel prints it
        var routes = PodRouteDiscovery.Discover($"Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n{device}\t1701000A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n",
                                                "", isBridge: _ => false);

        Assert.Equal(pod ? [new PodRoute(IPNetwork.Parse("10.0.1.23/32"), device)] : [], routes);
    }
}
