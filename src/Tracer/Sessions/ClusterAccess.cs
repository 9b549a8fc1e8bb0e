using k8s;
using Microsoft.Extensions.Logging;
using Tracer.Discovery;

namespace Tracer.Sessions;

/// <summary>
/// What a trace knows of the cluster: with the Kubernetes API (in-cluster or a kubeconfig, and the node's name) the
/// node's pods by name, and the owners named from rules checked against it; without it, pods from the node's routes.
/// </summary>
internal sealed class ClusterAccess : IDisposable
{
    private readonly KubernetesClusterObjects? _objects;

    private ClusterAccess(IPodSource pods, KubernetesClientConfiguration? config, string? node, KubernetesPodSource? kubernetes, string why)
    {
        Pods = pods;
        Config = config;
        Node = node;
        Kubernetes = kubernetes;
        WhyNot = why;
        if (config is not null)
        {
            _objects = new KubernetesClusterObjects(config, node!);
            Owners = new ClusterOwners(_objects);
        }
    }

    /// <summary>The API when <paramref name="useApi"/> and it is configured; the routes otherwise (<see cref="WhyNot"/> says why).</summary>
    public static ClusterAccess Open(bool useApi, string? nodeName, string? kubeconfig, ILogger logger)
    {
        var routes = new RoutePodSource(TimeSpan.FromSeconds(5));
        var why = "Kubernetes is off in the settings";
        if (!useApi || KubernetesAccess.Config(nodeName, kubeconfig, out why) is not { } config)
            return new ClusterAccess(routes, null, null, null, why);
        var node = KubernetesAccess.NodeName(nodeName)!;
        var kubernetes = new KubernetesPodSource(config, node, routes, logger);
        return new ClusterAccess(kubernetes, config, node, kubernetes, "");
    }

    /// <summary>Where pods come from: the API's (once listed, the routes' before), else the routes'.</summary>
    public IPodSource Pods { get; }

    /// <summary>The API's pods; null without the API.</summary>
    public KubernetesPodSource? Kubernetes { get; }

    /// <summary>The API's configuration and this node's name; null without the API.</summary>
    public KubernetesClientConfiguration? Config { get; }
    public string? Node { get; }

    /// <summary>Checks owners named from rules against the API; null without it.</summary>
    public ClusterOwners? Owners { get; }

    /// <summary>Why there is no API ("" with it).</summary>
    public string WhyNot { get; }

    /// <summary>
    /// Lists and watches the node's pods until cancelled (nothing without the API). Returns the watch, once it has listed
    /// the pods or <paramref name="listTimeout"/> passed: pod names from the start when the API answers quickly, routes until it does.
    /// </summary>
    public async Task<Task> StartAsync(TimeSpan listTimeout, CancellationToken cancellationToken)
    {
        if (Kubernetes is null)
            return Task.CompletedTask;
        var watch = Kubernetes.RunAsync(cancellationToken);
        await Kubernetes.WaitListedAsync(listTimeout, cancellationToken).ConfigureAwait(false);
        return watch;
    }

    public void Dispose()
    {
        Kubernetes?.Dispose();
        _objects?.Dispose();
    }
}
