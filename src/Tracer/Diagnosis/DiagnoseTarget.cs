using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Kernel;

namespace Tracer.Diagnosis;

/// <summary>
/// The pod being diagnosed: its address, its name when Kubernetes gave one, the host-side interface
/// its route goes through, its network namespace (entered for the reverse probes and the checks
/// inside the pod), every address it has there, the node address it would answer to, and — named
/// through the Kubernetes API — its containers' liveness, readiness and startup probes.
/// </summary>
internal sealed record DiagnoseTarget(
    IPAddress Address,
    string Name,
    string? HostInterface,
    string? NamespacePath,
    IReadOnlyList<IPAddress> PodAddresses,
    IPAddress? NodeAddress)
{
    public IReadOnlyList<PodProbe> Probes { get; init; } = [];

    /// <summary>What the trace watches in detail: every address of the pod.</summary>
    public IReadOnlyList<IPNetwork> Networks => [.. PodAddresses.DefaultIfEmpty(Address).Distinct().Select(a => new IPNetwork(a, a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128))];

    /// <summary>From --pod NAMESPACE/NAME (through the Kubernetes API) or --ip ADDR; a clear error when it is not a pod of this node.</summary>
    public static async Task<DiagnoseTarget> ResolveAsync(string? pod, IPAddress? address, CancellationToken cancellationToken)
    {
        var name = address?.ToString();
        IReadOnlyList<PodProbe> probes = [];
        if (pod is not null)
            (address, name, probes) = await FromKubernetesAsync(pod, cancellationToken).ConfigureAwait(false);
        // The API already placed a --pod on this node; a CNI without per-pod routes (OVS-based ones) leaves only the address.
        var route = PodRouteDiscovery.Discover().FirstOrDefault(r => r.Network.Contains(address!));
        if (route is null && pod is null)
            throw new UserError($"{address} is not a pod of this node: no route to it goes through a pod interface (cali*, lxc*, eni*, azv*, gke*, veth*, a CNI bridge).",
                                "Run diagnose on the node the pod runs on ('kubectl get pod -o wide' shows it); on an OVS-based CNI, name it with --pod.", ExitCodes.Usage);
        var hostInterface = route?.Network.PrefixLength is 32 or 128 ? route.Interface : null;
        var ns = FindNamespace(address!);
        var podAddresses = ns is null ? [address!] : NetworkNamespace.RunIn(ns, LocalAddresses);
        return new DiagnoseTarget(address!, name!, hostInterface, ns, podAddresses, NodeAddressToward(address!)) { Probes = probes };
    }

    private static async Task<(IPAddress, string, IReadOnlyList<PodProbe>)> FromKubernetesAsync(string pod, CancellationToken cancellationToken)
    {
        var (podNamespace, podName) = ArgumentParsers.ParsePod(pod, out var error)
            ?? throw new UserError($"--pod {error}.", "Name the pod as NAMESPACE/NAME, or use --ip.", ExitCodes.Usage);
        var config = KubernetesAccess.Config(null, null, out var why)
            ?? throw new UserError($"--pod needs the Kubernetes API, and there is none here: {why}.",
                                   "Use --ip with the pod's address ('kubectl get pod -o wide' shows it), or set KUBECONFIG and NODE_NAME.", ExitCodes.Usage);
        var found = await KubernetesAccess.ReadPodAsync(config, podNamespace, podName, cancellationToken).ConfigureAwait(false)
            ?? throw new UserError($"No pod {pod} in the cluster.", "Check the namespace and name with 'kubectl get pod -n NAMESPACE'.", ExitCodes.Usage);
        var node = KubernetesAccess.NodeName(null);
        if (found.Spec?.NodeName is { } podNode && podNode != node)
            throw new UserError($"Pod {pod} runs on node {podNode}, not on this one ({node}).", $"Run diagnose on {podNode}.", ExitCodes.Usage);
        if (found.Spec?.HostNetwork == true)
            throw new UserError($"Pod {pod} uses the node's network (hostNetwork): there is no pod path to diagnose.", "Diagnose a pod with its own network.", ExitCodes.Usage);
        return IPAddress.TryParse(found.Status?.PodIP, out var ip)
            ? (ip, pod, PodProbe.Of(found.Spec))
            : throw new UserError($"Pod {pod} has no address yet (phase {found.Status?.Phase}).", "Wait until it is scheduled and its sandbox is up.", ExitCodes.Usage);
    }

    /// <summary>The network namespace, other than Tracer's own, that has <paramref name="address"/> on an interface.</summary>
    private static string? FindNamespace(IPAddress address)
    {
        var own = NetworkNamespace.CurrentInode();
        return NetworkNamespace.All().FirstOrDefault(path =>
            NetworkNamespace.Holds(path, () => NetworkNamespace.CurrentInode() != own && LocalAddresses().Contains(address)));
    }

    /// <summary>The addresses of the calling thread's namespace (netlink: the thread's namespace, not the process's).</summary>
    private static IReadOnlyList<IPAddress> LocalAddresses() =>
        [.. NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => !a.IsIPv6LinkLocal)];

    /// <summary>The source address the node uses toward the pod (<c>ip route get</c>): the one the pod answers to.</summary>
    private static IPAddress? NodeAddressToward(IPAddress pod)
    {
        if (NodeTools.Run("ip", "-j", "route", "get", pod.ToString()) is not { } json)
            return null;
        using var routes = JsonDocument.Parse(json);
        return routes.RootElement.EnumerateArray()
            .Select(r => r.TryGetProperty("prefsrc", out var src) && IPAddress.TryParse(src.GetString(), out var a) ? a : null)
            .FirstOrDefault(a => a is not null);
    }
}
