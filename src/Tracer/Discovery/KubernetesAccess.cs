using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Tracer.Discovery;

/// <summary>How Tracer reaches the Kubernetes API: in-cluster, or a kubeconfig; and this node's name.</summary>
internal static class KubernetesAccess
{
    /// <summary>This node's name: the setting, else NODE_NAME (the downward API's spec.nodeName).</summary>
    /// <summary>
    /// GET of an API path as the client's own calls are made (its credentials, headers first), whatever the status: pod
    /// watches and object lookups read paths the generated client has no AOT-safe call for.
    /// </summary>
    public static async Task<HttpResponseMessage> GetAsync(this Kubernetes client, string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, path));
        if (client.Credentials is { } credentials)
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        return await client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }

    public static string? NodeName(string? setting) =>
        setting is { Length: > 0 } ? setting : Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } node ? node : null;

    /// <summary>The API's configuration, or null and why not.</summary>
    public static KubernetesClientConfiguration? Config(string? nodeName, string? kubeconfig, out string why)
    {
        why = "";
        if (NodeName(nodeName) is null)
        {
            why = "no node name (set NODE_NAME from the downward API's spec.nodeName, or NodeName)";
            return null;
        }
        try
        {
            if (kubeconfig is { Length: > 0 } path)
                return KubernetesClientConfiguration.BuildConfigFromConfigFile(path);
            if (KubernetesClientConfiguration.IsInCluster())
                return KubernetesClientConfiguration.InClusterConfig();
            var home = Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } variable ? variable
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
            if (File.Exists(home))
                return KubernetesClientConfiguration.BuildConfigFromConfigFile(home);
            why = "not in a cluster, and no kubeconfig (Kubeconfig, KUBECONFIG or ~/.kube/config)";
            return null;
        }
        catch (Exception e) when (e is k8s.Exceptions.KubeConfigException or IOException)
        {
            why = $"the Kubernetes configuration is unusable: {e.Message}";
            return null;
        }
    }

    /// <summary>One pod, or null when the API says there is no such pod.</summary>
    public static async Task<V1Pod?> ReadPodAsync(KubernetesClientConfiguration config, string @namespace, string name, CancellationToken cancellationToken)
    {
        using var client = new Kubernetes(config);
        try
        {
            return await client.CoreV1.ReadNamespacedPodAsync(name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response?.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The pods of a node, host-network ones too, as one list (no watch): for a one-off run such as diagnose.</summary>
    public static async Task<IReadOnlyList<PodIdentity>> ListNodePodsAsync(KubernetesClientConfiguration config, string nodeName, CancellationToken cancellationToken)
    {
        using var client = new Kubernetes(config);
        var pods = await client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: "spec.nodeName=" + nodeName, cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. (pods.Items ?? []).Where(p => p.Metadata?.Uid is not null && p.Status?.Phase is not ("Succeeded" or "Failed")).Select(KubernetesPodSource.Identity)];
    }
}
