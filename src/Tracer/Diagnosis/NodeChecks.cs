using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tracer.Discovery;
using Tracer.Kernel;

namespace Tracer.Diagnosis;

/// <summary>One thing a person would check, and whether it is as it should be.</summary>
internal sealed record Finding(string Check, bool Pass, string Detail);

/// <summary>
/// What the incident's engineers checked by hand, each as a finding: the route to the pod, the pod's
/// address and default route, the neighbour entry, proxy_arp and arp_ignore on the host-side veth,
/// rp_filter against the pod's addresses, and whether the drop probe watches the pod.
/// </summary>
internal static class NodeChecks
{
    public static List<Finding> Before(DiagnoseTarget target)
    {
        var findings = new List<Finding> { Route(target) };
        if (target.NamespacePath is { } ns)
            findings.Add(NetworkNamespace.RunIn(ns, () => InsidePod(target)));
        else
            findings.Add(new Finding("pod", false, $"no network namespace has {target.Address}: the pod's sandbox is gone, or its address moved"));
        if (target.HostInterface is { } veth && target.Address.AddressFamily == AddressFamily.InterNetwork)
        {
            findings.Add(Sysctl("proxy_arp", veth, value => !veth.StartsWith("cali", StringComparison.Ordinal) || value == 1,
                                "Calico's pods reach their gateway 169.254.1.1 only through proxy ARP on the host-side veth"));
            findings.Add(Sysctl("arp_ignore", veth, value => value < 8, "8 ignores every ARP request"));
            findings.Add(ReversePath(target, veth));
        }
        return findings;
    }

    /// <summary>After the probes, so the node has tried to resolve the pod's neighbour entry.</summary>
    public static Finding Neighbour(DiagnoseTarget target)
    {
        if (target.Address.AddressFamily != AddressFamily.InterNetwork || !File.Exists("/proc/thread-self/net/arp"))
            return new Finding("neighbour", true, "not checked (IPv6)");
        // "IP address  HW type  Flags  HW address  Mask  Device"; flags 0x2: complete.
        var entry = File.ReadLines("/proc/thread-self/net/arp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .FirstOrDefault(f => f.Length >= 6 && f[0] == target.Address.ToString());
        if (entry is null)
            return new Finding("neighbour", true, $"no ARP entry for {target.Address} (none needed on a point-to-point veth route)");
        var complete = (int.Parse(entry[2].AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x2) != 0;
        return new Finding("neighbour", complete, complete
            ? $"{target.Address} is at {entry[3]} on {entry[5]}"
            : $"ARP for {target.Address} on {entry[5]} is incomplete: the pod does not answer ARP (is its eth0 up?)");
    }

    /// <summary>Whether the probe the trace attached watches the pod (from the status line it printed).</summary>
    public static Finding Watched(DiagnoseTarget target, string status) =>
        target.Networks.All(n => status.Contains(n.ToString(), StringComparison.Ordinal))
            ? new Finding("watched", true, $"{string.Join(", ", target.Networks)} in the drop probe's watched set, in detail (every drop sampled)")
            : new Finding("watched", false, $"the drop probe does not watch {string.Join(", ", target.Networks)}: drops of the pod would go unseen");

    private static Finding Route(DiagnoseTarget target)
    {
        var route = PodRouteDiscovery.Discover().FirstOrDefault(r => r.Network.Contains(target.Address));
        return route is null
            ? new Finding("route", false, $"no route to {target.Address} through a pod interface")
            : new Finding("route", true, $"{route.Network} via {route.Interface}");
    }

    /// <summary>Inside the pod's namespace: its address on an interface that is up, and a default route.</summary>
    private static Finding InsidePod(DiagnoseTarget target)
    {
        var defaultRoute = File.ReadLines("/proc/thread-self/net/route").Skip(1)
            .Select(l => l.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries))
            .FirstOrDefault(f => f.Length >= 8 && f[1] == "00000000" && f[7] == "00000000");
        var gateway = defaultRoute is null ? null
            : new IPAddress(BitConverter.GetBytes(uint.Parse(defaultRoute[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        var addresses = string.Join(", ", target.PodAddresses);
        return defaultRoute is null
            ? new Finding("pod", false, $"the pod has {addresses} but no IPv4 default route: it cannot answer the node")
            : new Finding("pod", true, $"the pod has {addresses}; default route via {gateway} on {defaultRoute[0]}");
    }

    private static Finding Sysctl(string name, string device, Func<int, bool> good, string why)
    {
        var value = ReadSysctl(device, name);
        return value is null
            ? new Finding(name, false, $"{device} has no {name} setting (is the interface gone?)")
            : new Finding(name, good(value.Value), $"{name}={value} on {device}" + (good(value.Value) ? "" : $": {why}"));
    }

    /// <summary>
    /// rp_filter: in strict mode (1) the node drops a packet from the pod whose source address it would
    /// not route back through the veth it came in on. Every address the pod may send from must be routed there.
    /// </summary>
    private static Finding ReversePath(DiagnoseTarget target, string veth)
    {
        var mode = Math.Max(ReadSysctl("all", "rp_filter") ?? 0, ReadSysctl(veth, "rp_filter") ?? 0);
        var routes = PodRouteDiscovery.Discover();
        var unrouted = target.PodAddresses
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork)
            .Where(a => routes.FirstOrDefault(r => r.Network.Contains(a))?.Interface != veth)
            .ToList();
        if (mode != 1 || unrouted.Count == 0)
            return new Finding("rp_filter", true, $"rp_filter={mode} on {veth}" + (mode == 1 ? $"; every pod address is routed back through {veth}" : ""));
        return new Finding("rp_filter", false,
            $"rp_filter=1 (strict) on {veth}, and the node does not route {string.Join(", ", unrouted)} back through {veth}: packets the pod sends from it are dropped");
    }

    private static int? ReadSysctl(string device, string name)
    {
        var path = $"/proc/sys/net/ipv4/conf/{device}/{name}";
        return File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
    }
}
