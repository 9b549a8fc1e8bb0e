using k8s;
using k8s.Models;
using Tracer.Discovery;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Discovery;

/// <summary>
/// Who a pod is, from the pod object as the API server sends it (JSON, read by the same client library). The
/// workload is its controlling owner; a ReplicaSet made by a Deployment is named as the Deployment.
/// </summary>
[UnitTest]
public sealed class KubernetesPodsTests
{
    /// <summary>A running pod of node-1 with this metadata, as the API serves it.</summary>
    private static V1Pod Pod(string metadata) => KubernetesJson.Deserialize<V1Pod>(
        """{"apiVersion":"v1","kind":"Pod","metadata":METADATA,"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.244.0.5"}}"""
            .Replace("METADATA", metadata, StringComparison.Ordinal));

    private const string DeploymentOwned = """
        {"name":"web-5d8f7c9b4-x2x7q","generateName":"web-5d8f7c9b4-","namespace":"shop","uid":"5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11",
         "labels":{"app":"web","pod-template-hash":"5d8f7c9b4"},
         "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f7c9b4","uid":"0b6e3c55-8f0a-4e0e-b4f4-7d0c2a9e6a01","controller":true,"blockOwnerDeletion":true}]}
        """;

    [Fact]
    public void APodOfADeploymentIsNamedWithItsDeployment()
    {
        var identity = KubernetesPodSource.Identity(Pod(DeploymentOwned));

        Assert.Equal("shop", identity.Namespace);
        Assert.Equal("web-5d8f7c9b4-x2x7q", identity.Name);
        Assert.Equal("5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11", identity.Uid);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "web", ["pod-template-hash"] = "5d8f7c9b4" }, identity.Labels);
        Assert.Equal(("Deployment", "web"), (identity.WorkloadKind, identity.WorkloadName));
    }

    [Theory]
    // A StatefulSet's or DaemonSet's pod: its owner is the workload.
    [InlineData("""{"apiVersion":"apps/v1","kind":"StatefulSet","name":"db","uid":"u1","controller":true}""", "", "StatefulSet", "db")]
    [InlineData("""{"apiVersion":"apps/v1","kind":"DaemonSet","name":"calico-node","uid":"u2","controller":true}""", "", "DaemonSet", "calico-node")]
    // A ReplicaSet without a pod-template-hash was made by hand: it is the workload itself.
    [InlineData("""{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f7c9b4","uid":"u3","controller":true}""", "", "ReplicaSet", "web-5d8f7c9b4")]
    // A hash its ReplicaSet's name does not end with: no Deployment is claimed.
    [InlineData("""{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-v2","uid":"u4","controller":true}""", "\"pod-template-hash\":\"5d8f7c9b4\"", "ReplicaSet", "web-v2")]
    // Owned, but not controlled: no workload.
    [InlineData("""{"apiVersion":"v1","kind":"ConfigMap","name":"settings","uid":"u5"}""", "", null, null)]
    public void TheWorkloadIsTheControllingOwner(string owner, string labels, string? kind, string? name)
    {
        var metadata = """{"name":"p","namespace":"shop","uid":"u","labels":{LABELS},"ownerReferences":[OWNER]}""";
        var identity = KubernetesPodSource.Identity(Pod(metadata.Replace("LABELS", labels, StringComparison.Ordinal).Replace("OWNER", owner, StringComparison.Ordinal)));

        Assert.Equal((kind, name), (identity.WorkloadKind, identity.WorkloadName));
    }

    [Fact]
    public void ABarePodHasNoWorkloadAndNoLabels_AndWithoutANamespaceIsInDefault()
    {
        var identity = KubernetesPodSource.Identity(Pod("""{"name":"debug","uid":"u6"}"""));

        Assert.Equal("default", identity.Namespace);
        Assert.Equal("debug", identity.Name);
        Assert.Empty(identity.Labels);
        Assert.Null(identity.WorkloadKind);
        Assert.Null(identity.WorkloadName);
    }

    [Fact]
    public void ItsStartedContainersAreKeptWithTheRuntimesIds()
    {
        // status as the kubelet reports it: "runtime://id", init and ephemeral containers in lists of their own; a
        // container still waiting has no id yet.
        var pod = KubernetesJson.Deserialize<V1Pod>("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"edr-agent-x7k2p","namespace":"security","uid":"u7"},"spec":{"nodeName":"node-1"},
             "status":{"phase":"Running",
              "containerStatuses":[
                {"name":"edr","containerID":"containerd://3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a","ready":true,"restartCount":0,"image":"edr:7","imageID":"","state":{"running":{}}},
                {"name":"sidecar","ready":false,"restartCount":0,"image":"s:1","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}],
              "initContainerStatuses":[
                {"name":"setup","containerID":"cri-o://9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a3f2a1b9c8d7e6f5a4b3c2d1e0f","ready":false,"restartCount":0,"image":"i:1","imageID":"","state":{"terminated":{"exitCode":0}}}]}}
            """);

        var identity = KubernetesPodSource.Identity(pod);

        Assert.Equal(
            [new PodContainer("edr", "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"),
             new PodContainer("setup", "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a3f2a1b9c8d7e6f5a4b3c2d1e0f")],
            identity.Containers);
    }
}
