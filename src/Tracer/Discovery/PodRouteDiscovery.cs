using System.Globalization;
using System.Net;
using System.Numerics;

namespace Tracer.Discovery;

/// <summary>A local pod address or pod subnet, and the host-side interface it is routed to.</summary>
internal sealed record PodRoute(IPNetwork Network, string Interface);

/// <summary>
/// Finds local pods without Kubernetes, from the routing table of the network namespace Tracer
/// runs in: CNIs route each local pod through a host-side veth (Calico <c>cali*</c>, Cilium
/// <c>lxc*</c> with endpoint routes, AWS VPC CNI <c>eni*</c>, Azure CNI <c>azv*</c>, GKE <c>gke*</c>, generic <c>veth*</c>)
/// with a /32 or /128 route, or put pods on a bridge whose connected subnet is the node's pod CIDR
/// (<c>cni0</c>, <c>cbr0</c>, ...). OVS-based CNIs (Antrea, OVN-Kubernetes, Kube-OVN) do neither:
/// their pods come from the Kubernetes API (the daemon) or --ip.
/// </summary>
internal static class PodRouteDiscovery
{
    private static readonly string[] PodInterfacePrefixes = ["cali", "lxc", "eni", "azv", "gke", "veth"];

    private const int RtfGateway = 0x2;

    /// <summary>The routes of the calling thread's network namespace (thread-self: see NetworkNamespace).</summary>
    public static IReadOnlyList<PodRoute> Discover() => Discover(
        ReadIfExists("/proc/thread-self/net/route"),
        ReadIfExists("/proc/thread-self/net/ipv6_route"),
        name => Directory.Exists($"/sys/class/net/{name}/bridge"));

    public static IReadOnlyList<PodRoute> Discover(string ipv4Routes, string ipv6Routes, Func<string, bool> isBridge)
    {
        var routes = new List<PodRoute>();
        routes.AddRange(ParseIPv4(ipv4Routes).Where(r => IsPodRoute(r, 32, isBridge)).Select(r => new PodRoute(r.Network, r.Interface)));
        routes.AddRange(ParseIPv6(ipv6Routes).Where(r => IsPodRoute(r, 128, isBridge)).Select(r => new PodRoute(r.Network, r.Interface)));
        return routes.Distinct().ToList();
    }

    private static bool IsPodRoute(KernelRoute route, int hostPrefix, Func<string, bool> isBridge)
    {
        if (route.ViaGateway || IsLinkLocalOrMulticast(route.Network.BaseAddress))
            return false;
        if (route.Network.PrefixLength == hostPrefix)
            return PodInterfacePrefixes.Any(p => route.Interface.StartsWith(p, StringComparison.Ordinal));
        return route.Network.PrefixLength > 0 && isBridge(route.Interface);
    }

    private static bool IsLinkLocalOrMulticast(IPAddress address) =>
        address.IsIPv6LinkLocal || address.IsIPv6Multicast ||
        (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] is 169 or >= 224);

    private sealed record KernelRoute(IPNetwork Network, string Interface, bool ViaGateway);

    // /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT".
    private static IEnumerable<KernelRoute> ParseIPv4(string table)
    {
        foreach (var line in table.Split('\n').Skip(1))
        {
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8)
                continue;
            // The u32 printed is the __be32 as it sits in memory: its native-order bytes are the address.
            var destination = new IPAddress(BitConverter.GetBytes(uint.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            var prefix = BitOperations.PopCount(uint.Parse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            var flags = int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            yield return new KernelRoute(new IPNetwork(destination, prefix), f[0], (flags & RtfGateway) != 0);
        }
    }

    // /proc/net/ipv6_route: "dest destlen src srclen nexthop metric refcnt use flags iface", all hex.
    private static IEnumerable<KernelRoute> ParseIPv6(string table)
    {
        foreach (var line in table.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10)
                continue;
            var destination = new IPAddress(Convert.FromHexString(f[0]));
            var prefix = int.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var flags = int.Parse(f[8], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (f[9] == "lo")
                continue;
            yield return new KernelRoute(new IPNetwork(destination, prefix), f[9], (flags & RtfGateway) != 0);
        }
    }

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}
