using System.Text.Json;
using k8s;
using k8s.Models;
using Tracer.Discovery;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

/// <summary>What is read from the API's objects: a Service's endpoints over its EndpointSlices, a Calico policy's selector.</summary>
[UnitTest]
public sealed class KubernetesClusterObjectsTests
{
    [Fact]
    public void EndpointsAreCountedOverEverySlice_UnsetReadyCountsAsReady_TheNodesApart()
    {
        // Two slices of Service shop/web as the EndpointSlice controller writes them: one endpoint not ready (terminating),
        // one with no ready condition at all (an "unknown" state consumers read as ready).
        var slices = KubernetesJson.Deserialize<V1EndpointSliceList>("""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSliceList","metadata":{"resourceVersion":"9"},"items":[
              {"metadata":{"name":"web-abc12","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
               "endpoints":[{"addresses":["10.244.0.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-1"},
                            {"addresses":["10.244.1.7"],"conditions":{"ready":false,"serving":true,"terminating":true},"nodeName":"node-2"}],
               "ports":[{"name":"http","port":8080,"protocol":"TCP"}]},
              {"metadata":{"name":"web-def34","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
               "endpoints":[{"addresses":["10.244.2.9"],"conditions":{},"nodeName":"node-3"}]}]}
            """);

        Assert.Equal(new ServiceEndpoints(Total: 3, Ready: 2, ReadyOnNode: 1), KubernetesClusterObjects.Count(slices, "node-1"));
        Assert.Equal(new ServiceEndpoints(3, 2, 0), KubernetesClusterObjects.Count(slices, "node-2"));
    }

    [Fact]
    public void ASliceWithNoEndpointsCountsNone()
    {
        var slices = KubernetesJson.Deserialize<V1EndpointSliceList>("""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSliceList","metadata":{},"items":[
              {"metadata":{"name":"web-abc12","namespace":"shop"},"addressType":"IPv4","endpoints":null}]}
            """);

        Assert.Equal(new ServiceEndpoints(0, 0, 0), KubernetesClusterObjects.Count(slices, "node-1"));
    }

    [Fact]
    public void CalicosSelectorIsTakenAsWritten_AbsentItSelectsAll()
    {
        using var policy = JsonDocument.Parse("""
            {"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"default.deny","namespace":"shop"},
             "spec":{"tier":"default","order":100,"selector":"app == 'web' && has(tier)","types":["Ingress"],"ingress":[{"action":"Deny"}]}}
            """);
        using var global = JsonDocument.Parse("""
            {"apiVersion":"crd.projectcalico.org/v1","kind":"GlobalNetworkPolicy","metadata":{"name":"default.deny-all"},
             "spec":{"types":["Ingress"]}}
            """);

        Assert.Equal("app == 'web' && has(tier)", KubernetesClusterObjects.CalicoSelector(policy.RootElement));
        Assert.Equal("all()", KubernetesClusterObjects.CalicoSelector(global.RootElement));
    }
}
