using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Tracer.Discovery;

/// <summary>
/// Services (with their EndpointSlices), NetworkPolicies and Calico policies read from the Kubernetes API with plain
/// GETs. Calico's policies are read through the API server's projectcalico.org/v3 when it serves that group (Calico's
/// API server installed), else as the crd.projectcalico.org/v1 custom resources Calico stores them in.
/// </summary>
internal sealed class KubernetesClusterObjects(KubernetesClientConfiguration config, string nodeName) : IClusterObjects, IDisposable
{
    private const string CalicoApi = "projectcalico.org/v3";
    private const string CalicoCrds = "crd.projectcalico.org/v1";

    private readonly Kubernetes _client = new(config);
    private string? _calicoGroup; // learned once it is known

    public async Task<ClusterObject> GetAsync(ClusterObjectKey key, CancellationToken cancellationToken)
    {
        switch (key.Kind)
        {
            case ClusterObjectKind.Service:
                {
                    if (!await ExistsAsync($"api/v1/namespaces/{key.Namespace}/services/{key.Name}", cancellationToken).ConfigureAwait(false))
                        return new ClusterObject(false, "core/v1");
                    using var slices = await GetAsync($"apis/discovery.k8s.io/v1/namespaces/{key.Namespace}/endpointslices?labelSelector=" +
                                                      Uri.EscapeDataString("kubernetes.io/service-name=" + key.Name), cancellationToken).ConfigureAwait(false);
                    await using var body = await slices!.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                    return new ClusterObject(true, "core/v1", Endpoints: Count(KubernetesJson.Deserialize<V1EndpointSliceList>(body), nodeName));
                }
            case ClusterObjectKind.NetworkPolicy:
                {
                    using var response = await GetAsync($"apis/networking.k8s.io/v1/namespaces/{key.Namespace}/networkpolicies/{key.Name}", cancellationToken).ConfigureAwait(false);
                    if (response is null)
                        return new ClusterObject(false, "networking.k8s.io/v1");
                    await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                    var policy = KubernetesJson.Deserialize<V1NetworkPolicy>(body);
                    return new ClusterObject(true, "networking.k8s.io/v1", LabelSelectors.Format(policy.Spec?.PodSelector));
                }
            default:
                {
                    var group = _calicoGroup ??= await ExistsAsync($"apis/{CalicoApi}", cancellationToken).ConfigureAwait(false) ? CalicoApi : CalicoCrds;
                    var path = key.Namespace is null
                        ? $"apis/{group}/globalnetworkpolicies/{key.Name}"
                        : $"apis/{group}/namespaces/{key.Namespace}/networkpolicies/{key.Name}";
                    using var response = await GetAsync(path, cancellationToken).ConfigureAwait(false);
                    if (response is null)
                        return new ClusterObject(false, group);
                    await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                    using var policy = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
                    return new ClusterObject(true, group, CalicoSelector(policy.RootElement));
                }
        }
    }

    /// <summary>Calico's selector as written; absent, Calico selects every endpoint: all().</summary>
    internal static string CalicoSelector(JsonElement policy) =>
        policy.TryGetProperty("spec", out var spec) && spec.TryGetProperty("selector", out var selector) && selector.GetString() is { Length: > 0 } text
            ? text
            : "all()";

    /// <summary>Endpoints over the slices; a ready condition left unset counts as ready, as kube-proxy reads it.</summary>
    internal static ServiceEndpoints Count(V1EndpointSliceList slices, string node)
    {
        var endpoints = (slices.Items ?? []).SelectMany(s => s.Endpoints ?? []).ToList();
        var ready = endpoints.Where(e => e.Conditions?.Ready != false).ToList();
        return new ServiceEndpoints(endpoints.Count, ready.Count, ready.Count(e => e.NodeName == node));
    }

    private async Task<bool> ExistsAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await GetAsync(path, cancellationToken).ConfigureAwait(false);
        return response is not null;
    }

    /// <summary>The response, or null on 404; other failures throw.</summary>
    private async Task<HttpResponseMessage?> GetAsync(string path, CancellationToken cancellationToken)
    {
        var response = await _client.GetAsync(path, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
                return null;
            throw new HttpOperationException($"GET {path}: HTTP {(int)response.StatusCode}");
        }
    }

    public void Dispose() => _client.Dispose();
}
