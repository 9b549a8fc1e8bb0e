using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Tracer.Discovery;

/// <summary>
/// The pods of this node from the Kubernetes API: list, then watch from the list's resourceVersion
/// (with bookmarks), re-watching when the server ends a watch and listing again on 410 Gone or an
/// error. The client library gives the configuration (in-cluster or kubeconfig), credentials, TLS and
/// the typed models; the AOT build of it has no watch helper, so the list-and-watch loop is here.
/// Until the first list succeeds, and when no API is configured, pods come from the routing table.
/// </summary>
internal sealed class KubernetesPodSource : IPodSource, IDisposable
{
    private static readonly TimeSpan WatchTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly Kubernetes _client;
    private readonly string _nodeName;
    private readonly RoutePodSource _routes;
    private readonly ILogger _logger;
    private readonly Dictionary<string, V1Pod> _pods = []; // by uid
    private readonly Lock _gate = new();
    private PodSnapshot? _snapshot; // null until the first list
    private readonly TaskCompletionSource _listed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _resourceVersion;

    public KubernetesPodSource(KubernetesClientConfiguration config, string nodeName, RoutePodSource routes, ILogger logger)
    {
        _client = new Kubernetes(config);
        _nodeName = nodeName;
        _routes = routes;
        _logger = logger;
    }

    /// <summary>The API's pods once listed; the routing table's before.</summary>
    public PodSnapshot Current
    {
        get
        {
            lock (_gate)
                return _snapshot ?? _routes.Current;
        }
    }

    /// <summary>True once the API's list arrived.</summary>
    public bool Synced => _listed.Task.IsCompleted;

    /// <summary>Waits for the first list, at most <paramref name="timeout"/>; false if it has not arrived.</summary>
    public async Task<bool> WaitListedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await Task.WhenAny(_listed.Task, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        return Synced;
    }

    /// <summary>Lists and watches until cancelled; failures are retried with backoff, each run of them logged once.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var failing = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ListAsync(cancellationToken).ConfigureAwait(false);
                if (failing)
                    _logger.LogWarning("Kubernetes API reachable again: pods of node {Node} listed", _nodeName);
                failing = false;
                backoff = TimeSpan.FromSeconds(1);
                while (await WatchAsync(cancellationToken).ConfigureAwait(false))
                {
                    // the server ended the watch normally: watch again from the last resourceVersion
                }
                _logger.LogInformation("pod watch expired (410 Gone); listing again");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException or IOException or JsonException or KubernetesException)
            {
                if (!failing)
                    _logger.LogWarning("Kubernetes API at {Server} failed ({Error}); {Fallback}, retrying", _client.BaseUri, Describe(e),
                                       Synced ? "keeping the pods last seen" : "finding pods from routes meanwhile");
                failing = true;
                try
                {
                    await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
            }
        }
    }

    private static string Describe(Exception e) => e is HttpOperationException { Response: { } response }
        ? $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}"
        : e.Message;

    private string PodsPath(string query) =>
        $"api/v1/pods?fieldSelector={Uri.EscapeDataString("spec.nodeName=" + _nodeName)}{query}";

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var pods = new List<V1Pod>();
        string? resourceVersion = null, next = null;
        do
        {
            using var response = await SendAsync(PodsPath("&limit=500" + (next is null ? "" : "&continue=" + Uri.EscapeDataString(next))),
                                                 cancellationToken).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var list = KubernetesJson.Deserialize<V1PodList>(body);
            pods.AddRange(list.Items ?? []);
            resourceVersion = list.Metadata?.ResourceVersion;
            next = list.Metadata?.ContinueProperty;
        }
        while (!string.IsNullOrEmpty(next));
        lock (_gate)
        {
            _pods.Clear();
            foreach (var pod in pods.Where(p => p.Metadata?.Uid is not null))
                _pods[pod.Metadata.Uid] = pod;
            _resourceVersion = resourceVersion;
            Publish();
        }
        _listed.TrySetResult();
        _logger.LogInformation("Kubernetes: {Count} pods on node {Node}", pods.Count, _nodeName);
    }

    /// <summary>One watch; false when the resourceVersion is too old (410 Gone) and the pods must be listed again.</summary>
    private async Task<bool> WatchAsync(CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await SendAsync(PodsPath($"&watch=true&allowWatchBookmarks=true&timeoutSeconds={(int)WatchTimeout.TotalSeconds}" +
                                                $"&resourceVersion={Uri.EscapeDataString(_resourceVersion ?? "")}"), cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.Gone)
        {
            return false;
        }
        using (response)
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(body);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (line.Length > 0 && !Apply(line))
                    return false;
            }
        }
        return true;
    }

    /// <summary>Applies one watch event; false on 410 Gone.</summary>
    private bool Apply(string line)
    {
        using var document = JsonDocument.Parse(line);
        var type = document.RootElement.GetProperty("type").GetString();
        var item = document.RootElement.GetProperty("object");
        if (type == "ERROR")
        {
            var status = KubernetesJson.Deserialize<V1Status>(item);
            if (status.Code == (int)HttpStatusCode.Gone)
                return false;
            throw new KubernetesException(status);
        }
        var pod = KubernetesJson.Deserialize<V1Pod>(item);
        lock (_gate)
        {
            _resourceVersion = pod.Metadata?.ResourceVersion ?? _resourceVersion;
            if (type == "BOOKMARK" || pod.Metadata?.Uid is not { } uid)
                return true;
            if (type == "DELETED")
                _pods.Remove(uid);
            else
                _pods[uid] = pod;
            Publish();
        }
        return true;
    }

    private async Task<HttpResponseMessage> SendAsync(string path, CancellationToken cancellationToken)
    {
        var response = await _client.GetAsync(path, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
            return response;
        var error = new HttpOperationException($"GET {path}: HTTP {(int)response.StatusCode}")
        {
            Response = new HttpResponseMessageWrapper(response, ""),
        };
        response.Dispose();
        throw error;
    }

    /// <summary>Under the gate: the watched pods become the current snapshot, with their routes' interfaces.</summary>
    private void Publish()
    {
        var interfaces = _routes.Current.Pods.GroupBy(p => p.Network.BaseAddress).ToDictionary(g => g.Key, g => g.First().Interface);
        var pods = new List<LocalPod>();
        var identities = new List<PodIdentity>();
        foreach (var pod in _pods.Values)
        {
            if (pod.Status?.Phase is "Succeeded" or "Failed")
                continue; // a finished pod's address is free again, and it runs nothing
            var identity = Identity(pod);
            identities.Add(identity);
            if (pod.Spec?.HostNetwork == true)
                continue; // a host-network pod has the node's address
            foreach (var address in Addresses(pod))
                pods.Add(new LocalPod(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128),
                                      interfaces.GetValueOrDefault(address), identity));
        }
        _snapshot = new PodSnapshot(pods, "kubernetes", identities);
    }

    private static IEnumerable<IPAddress> Addresses(V1Pod pod)
    {
        var texts = pod.Status?.PodIPs?.Select(p => p.Ip) ?? (pod.Status?.PodIP is { } single ? [single] : []);
        foreach (var text in texts)
        {
            if (IPAddress.TryParse(text, out var address))
                yield return address;
        }
    }

    /// <summary>Namespace, name, uid, labels, probes, and the workload: a ReplicaSet's Deployment is named from its pod-template-hash (no access to ReplicaSets needed).</summary>
    internal static PodIdentity Identity(V1Pod pod)
    {
        var metadata = pod.Metadata;
        var labels = metadata.Labels is { } l ? new Dictionary<string, string>(l) : [];
        var owner = metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true);
        (string? kind, string? name) workload = owner switch
        {
            null => (null, null),
            { Kind: "ReplicaSet" } when labels.TryGetValue("pod-template-hash", out var hash) && owner.Name.EndsWith("-" + hash, StringComparison.Ordinal)
                => ("Deployment", owner.Name[..^(hash.Length + 1)]),
            _ => (owner.Kind, owner.Name),
        };
        return new PodIdentity(metadata.NamespaceProperty ?? "default", metadata.Name, metadata.Uid, labels, workload.kind, workload.name)
        {
            Probes = PodProbe.Of(pod.Spec),
            Containers = Containers(pod.Status),
        };
    }

    /// <summary>The started containers (init and ephemeral ones too) with their runtime ids: "containerd://ID" → ID.</summary>
    private static List<PodContainer> Containers(V1PodStatus? status) =>
        [.. (status?.ContainerStatuses ?? []).Concat(status?.InitContainerStatuses ?? []).Concat(status?.EphemeralContainerStatuses ?? [])
            .Where(c => c.ContainerID is { Length: > 0 })
            .Select(c => new PodContainer(c.Name, c.ContainerID.IndexOf("://", StringComparison.Ordinal) is var at and >= 0 ? c.ContainerID[(at + 3)..] : c.ContainerID))];

    public void Dispose() => _client.Dispose();
}
