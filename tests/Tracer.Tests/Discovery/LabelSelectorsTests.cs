using k8s;
using k8s.Models;
using Tracer.Discovery;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

/// <summary>
/// Pod selectors written as kubectl writes them (apimachinery's LabelSelectorAsSelector + Selector.String: requirements
/// sorted by key, In/NotIn values sorted), from NetworkPolicies in the API's JSON.
/// </summary>
[UnitTest]
public sealed class LabelSelectorsTests
{
    private static V1LabelSelector? PodSelector(string policyJson) => KubernetesJson.Deserialize<V1NetworkPolicy>(policyJson).Spec.PodSelector;

    [Fact]
    public void MatchLabelsAreKeyEqualsValue_SortedByKey()
    {
        var selector = PodSelector("""
            {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"allow-web","namespace":"shop"},
             "spec":{"podSelector":{"matchLabels":{"tier":"front","app":"web"}},"policyTypes":["Ingress"]}}
            """);

        Assert.Equal("app=web,tier=front", LabelSelectors.Format(selector));
    }

    [Fact]
    public void ExpressionsUseSetSyntax_AndMixWithLabelsByKey()
    {
        var selector = PodSelector("""
            {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p","namespace":"shop"},
             "spec":{"podSelector":{"matchLabels":{"app":"web"},"matchExpressions":[
               {"key":"tier","operator":"In","values":["front","back"]},
               {"key":"env","operator":"NotIn","values":["dev"]},
               {"key":"canary","operator":"DoesNotExist"},
               {"key":"team","operator":"Exists"}]}}}
            """);

        Assert.Equal("app=web,!canary,env notin (dev),team,tier in (back,front)", LabelSelectors.Format(selector));
    }

    [Fact]
    public void AnEmptyPodSelectorSelectsEveryPod_AndIsWrittenEmpty()
    {
        var selector = PodSelector("""
            {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"default-deny","namespace":"shop"},
             "spec":{"podSelector":{},"policyTypes":["Ingress"]}}
            """);

        Assert.Equal("", LabelSelectors.Format(selector));
        Assert.Equal("", LabelSelectors.Format(null));
    }
}
