using System.Net;
using Tracer.Discovery;
using Tracer.Kernel;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

/// <summary>Discovery in a real node namespace (a Calico-style network), from the kernel's own route tables.</summary>
[KernelTest]
public sealed class PodRouteDiscoveryKernelTests
{
    [Fact]
    public void FindsThePodsOfARealCalicoStyleNode()
    {
        using var network = new CalicoNetwork();
        var first = network.AddPod();
        var second = network.AddPod();

        var routes = NetworkNamespace.RunIn($"/run/netns/{network.NodeNamespace}", PodRouteDiscovery.Discover);

        Assert.Equal(
            new HashSet<PodRoute>
            {
                new(new IPNetwork(first.IPv4, 32), first.HostInterface),
                new(new IPNetwork(second.IPv4, 32), second.HostInterface),
                new(new IPNetwork(first.IPv6, 128), first.HostInterface),
                new(new IPNetwork(second.IPv6, 128), second.HostInterface),
            },
            routes.ToHashSet());
    }
}
