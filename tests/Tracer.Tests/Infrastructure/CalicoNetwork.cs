using System.Net;
using System.Net.Sockets;
using Tracer.Kernel;

namespace Tracer.Tests.Infrastructure;

/// <summary>A pod of <see cref="CalicoNetwork"/>: its namespace, addresses and host-side veth.</summary>
internal sealed record Pod(string Namespace, IPAddress IPv4, IPAddress IPv6, string HostInterface);

/// <summary>
/// A Kubernetes node as Calico wires it, built from real namespaces and veth pairs: a "node"
/// namespace, and per pod a namespace whose eth0 has a /32 (and /128) and a default route via
/// 169.254.1.1, reached through a host-side <c>cali…</c> veth with proxy_arp and a /32 route.
/// Every instance uses addresses of its own, so drops of one test never match another's watch.
/// Disposing deletes the namespaces and with them every device, route and rule inside.
/// </summary>
internal sealed class CalicoNetwork : IDisposable
{
    private static int s_instances;
    private readonly List<string> _namespaces = [];
    private readonly int _id;

    public CalicoNetwork()
    {
        _id = Interlocked.Increment(ref s_instances) + Environment.ProcessId % 100 * 10;
        Prefix = $"trc{Environment.ProcessId % 10000}x{_id}";
        NodeNamespace = Add($"{Prefix}-node");
        NodeIPv4 = IPAddress.Parse($"192.0.2.{10 + _id % 200}");
        NodeIPv6 = IPAddress.Parse($"2001:db8::{10 + _id % 200:x}");
        try
        {
            Ip("link", "set", "lo", "up");
            // The node's uplink. No dummy driver here: a veth pair whose far end stays in the node namespace.
            Ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer");
            Ip("link", "set", "eth0", "up");
            Ip("link", "set", "eth0peer", "up");
            Ip("addr", "add", $"{NodeIPv4}/24", "dev", "eth0");
            // proxy_arp answers a pod's ARP for its gateway 169.254.1.1 only if the node routes it elsewhere.
            Ip("route", "add", "169.254.1.1/32", "dev", "eth0");
            Ip("-6", "addr", "add", $"{NodeIPv6}/64", "dev", "eth0", "nodad");
            Sysctl(NodeNamespace, "net.ipv4.ip_forward=1");
            Sysctl(NodeNamespace, "net.ipv6.conf.all.forwarding=1");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Prefix { get; }

    public string NodeNamespace { get; }

    public IPAddress NodeIPv4 { get; }

    public IPAddress NodeIPv6 { get; }

    public List<Pod> Pods { get; } = [];

    /// <summary>Inode of a namespace, as Tracer reports it in <c>netns</c>.</summary>
    public static uint Inode(string name) => NetworkNamespace.RunIn($"/run/netns/{name}", () => NetworkNamespace.CurrentInode());

    public Pod AddPod()
    {
        var index = Pods.Count + 1;
        var name = Add($"{Prefix}-pod{index}");
        var hostInterface = $"cali{_id:x3}{index:x2}";
        var ipv4 = IPAddress.Parse($"10.{200 + _id / 250 % 50}.{_id % 250}.{index + 1}");
        var ipv6 = IPAddress.Parse($"fd00:{_id:x}::{index + 1:x}");
        Shell.Check("ip", "link", "add", hostInterface, "netns", NodeNamespace, "type", "veth", "peer", "name", "eth0", "netns", name);
        Shell.Check("ip", "-n", name, "link", "set", "lo", "up");
        Shell.Check("ip", "-n", name, "link", "set", "eth0", "up");
        Shell.Check("ip", "-n", name, "addr", "add", $"{ipv4}/32", "dev", "eth0");
        Shell.Check("ip", "-n", name, "-6", "addr", "add", $"{ipv6}/128", "dev", "eth0", "nodad");
        Shell.Check("ip", "-n", name, "route", "add", "169.254.1.1", "dev", "eth0");
        Shell.Check("ip", "-n", name, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
        Shell.Check("ip", "-n", name, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0");

        Ip("link", "set", hostInterface, "up");
        Ip("-6", "addr", "add", "fe80::1/64", "dev", hostInterface, "nodad");
        Sysctl(NodeNamespace, $"net.ipv4.conf.{hostInterface}.proxy_arp=1");
        Ip("route", "add", $"{ipv4}/32", "dev", hostInterface);
        Ip("-6", "route", "add", $"{ipv6}/128", "dev", hostInterface);
        var pod = new Pod(name, ipv4, ipv6, hostInterface);
        Pods.Add(pod);
        return pod;
    }

    /// <summary>Runs <c>nft</c> in the node namespace.</summary>
    public void Nft(string ruleset) => Shell.Check("ip", "netns", "exec", NodeNamespace, "nft", ruleset);

    /// <summary>The handle nftables gave the rule of <paramref name="chain"/> (e.g. "inet edr out") whose text contains <paramref name="text"/>.</summary>
    public long NftRuleHandle(string chain, string text)
    {
        var listing = Shell.Check("ip", ["netns", "exec", NodeNamespace, "nft", "-a", "list", "chain", .. chain.Split(' ')]);
        var line = listing.Split('\n').Single(l => l.Contains(text, StringComparison.Ordinal));
        return long.Parse(line[(line.LastIndexOf("# handle ", StringComparison.Ordinal) + "# handle ".Length)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs iproute2's <c>tc</c> in the node namespace; returns its output.</summary>
    public string Tc(params string[] arguments) => Shell.Check("ip", ["netns", "exec", NodeNamespace, "tc", .. arguments]);

    public void Ip(params string[] arguments) => Shell.Check("ip", ["-n", NodeNamespace, .. arguments]);

    public static void Sysctl(string ns, string setting) => Shell.Check("ip", "netns", "exec", ns, "sysctl", "-qw", setting);

    /// <summary>
    /// Sends <paramref name="count"/> UDP datagrams from inside <paramref name="ns"/>, each from a
    /// fresh socket as probes do. A send the kernel refuses (EPERM from a netfilter drop) still counts.
    /// </summary>
    public static int SendUdp(string ns, IPAddress destination, int port, int count, int payload = 16) =>
        NetworkNamespace.RunIn($"/run/netns/{ns}", () =>
        {
            var sent = 0;
            var data = new byte[payload];
            for (var i = 0; i < count; i++)
            {
                using var socket = new Socket(destination.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    socket.SendTo(data, new IPEndPoint(destination, port));
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied or SocketError.NetworkUnreachable or SocketError.HostUnreachable)
                {
                    // Dropped on the way out: exactly what the test is about.
                }
                sent++;
            }
            return sent;
        });

    /// <summary>
    /// A TCP connect from inside <paramref name="ns"/>, as the kubelet's tcpSocket or httpGet probe opens it, given up
    /// after <paramref name="timeout"/>: true when it connected. A SYN dropped on the way retransmits within that time.
    /// </summary>
    public static bool ConnectTcp(string ns, IPAddress destination, int port, TimeSpan timeout) =>
        NetworkNamespace.RunIn($"/run/netns/{ns}", () =>
        {
            using var socket = new Socket(destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                return socket.ConnectAsync(new IPEndPoint(destination, port)).Wait(timeout);
            }
            catch (AggregateException e) when (e.InnerException is SocketException)
            {
                return false;
            }
        });

    private string Add(string name)
    {
        Shell.Check("ip", "netns", "add", name);
        _namespaces.Add(name);
        return name;
    }

    public void Dispose()
    {
        foreach (var ns in _namespaces)
            Shell.Run("ip", "netns", "del", ns);
        _namespaces.Clear();
    }
}
