extern alias KubernetesFull;
using System.Text.RegularExpressions;
using KubernetesFull::k8s;
using KubernetesFull::k8s.Models;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Deploy;

/// <summary>deploy/*.yaml read into the API's typed objects: what the DaemonSet is allowed, reaches and exposes.</summary>
[UnitTest]
public partial class ManifestTests
{
    private static readonly List<object> Objects = [.. Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "deploy"), "*.yaml")
        .SelectMany(file => KubernetesYaml.LoadAllFromString(File.ReadAllText(file)))];

    private static V1DaemonSet DaemonSet => One<V1DaemonSet>();
    private static V1PodSpec Pod => DaemonSet.Spec.Template.Spec;
    private static V1Container Container => Assert.Single(Pod.Containers);

    private static T One<T>() => Assert.Single(Objects.OfType<T>());

    [Fact]
    public void ClusterRoleReadsPodsAndTheObjectsOwnersNameAndWritesEvents_Only()
    {
        var rules = One<V1ClusterRole>().Rules;
        Assert.Equal(6, rules.Count);
        Assert.All(rules, r => Assert.Null(r.ResourceNames));
        Assert.All(rules, r => Assert.Null(r.NonResourceURLs));
        V1PolicyRule Rule(string group, params string[] resources) =>
            Assert.Single(rules, r => r.ApiGroups.Contains(group) && r.Resources.Order().SequenceEqual(resources.Order()));
        Assert.Equal(["get", "list", "watch"], Rule("", "pods").Verbs.Order());
        // The daemon creates an Event, patches its count, and replaces one an earlier run left (PodEvents).
        Assert.Equal(["create", "patch", "update"], Rule("", "events").Verbs.Order());
        // An owner named from rules is read back (ClusterOwners): reads only, no watch.
        Assert.Equal(["get", "list"], Rule("", "services").Verbs.Order());
        Assert.Equal(["get", "list"], Rule("discovery.k8s.io", "endpointslices").Verbs.Order());
        Assert.Equal(["get", "list"], Rule("networking.k8s.io", "networkpolicies").Verbs.Order());
        var calico = Rule("projectcalico.org", "networkpolicies", "globalnetworkpolicies");
        Assert.Equal(["crd.projectcalico.org", "projectcalico.org"], calico.ApiGroups.Order());
        Assert.Equal(["get", "list"], calico.Verbs.Order());
    }

    [Fact]
    public void BindingGivesTheRoleToTheDaemonSetsServiceAccount()
    {
        var binding = One<V1ClusterRoleBinding>();
        var account = One<V1ServiceAccount>();
        var namespaceName = One<V1Namespace>().Metadata.Name;
        Assert.Equal(("ClusterRole", One<V1ClusterRole>().Metadata.Name), (binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", account.Metadata.Name, namespaceName), (subject.Kind, subject.Name, subject.NamespaceProperty));
        Assert.Equal(namespaceName, account.Metadata.NamespaceProperty);
        Assert.Equal(namespaceName, DaemonSet.Metadata.NamespaceProperty);
        Assert.Equal(account.Metadata.Name, Pod.ServiceAccountName);
    }

    [Fact]
    public void DaemonRunsInTheNodesNamespacesAndKnowsItsNode()
    {
        Assert.True(Pod.HostNetwork);
        Assert.True(Pod.HostPID);
        Assert.False(string.IsNullOrWhiteSpace(Container.Image));
        Assert.Equal("daemon", Container.Args[0]);
        var names = Container.Env.Select(e => e.Name).ToList();
        Assert.Equal("spec.nodeName", Container.Env.Single(e => e.Name == "NODE_NAME").ValueFrom.FieldRef.FieldPath);
        // $(NODE_NAME) is expanded only when NODE_NAME is defined earlier in the list.
        Assert.Contains("k8s.node.name=$(NODE_NAME)", Container.Env.Single(e => e.Name == "OTEL_RESOURCE_ATTRIBUTES").Value, StringComparison.Ordinal);
        Assert.True(names.IndexOf("NODE_NAME") < names.IndexOf("OTEL_RESOURCE_ATTRIBUTES"));
    }

    [Fact]
    public void ContainerIsUnprivilegedWithExactlyTheDocumentedCapabilities()
    {
        var security = Container.SecurityContext;
        Assert.False(security.Privileged);
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        var documented = DocumentedCapabilities();
        Assert.NotEmpty(documented);
        Assert.Equal(documented, security.Capabilities.Add.Select(c => "CAP_" + c).Order());
        // The systemd unit holds the same set.
        var unit = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "deploy", "systemd", "tracer.service"));
        var bounding = BoundingSet().Match(unit).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(documented, bounding.Order());
    }

    [Fact]
    public void ProbesAskTheHealthEndpointsOnTheDeclaredPort()
    {
        var port = Assert.Single(Container.Ports);
        Assert.Equal(new Tracer.Daemon.DaemonOptions().HealthPort, port.ContainerPort);
        foreach (var (probe, path) in new[] { (Container.LivenessProbe, "/healthz"), (Container.ReadinessProbe, "/readyz") })
        {
            Assert.Equal(path, probe.HttpGet.Path);
            Assert.Contains(probe.HttpGet.Port.Value, new[] { port.Name, port.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
    }

    [Fact]
    public void HostMountsAreReadOnlyExceptTheControlSocketAndTheXtablesLock()
    {
        string[] writable = ["/run/tracer", "/run/xtables.lock"];
        var volumes = Pod.Volumes.ToDictionary(v => v.Name);
        foreach (var mount in Container.VolumeMounts)
        {
            Assert.True(volumes.TryGetValue(mount.Name, out var volume), $"volumeMount {mount.Name} has no volume");
            if (volume.HostPath is { } hostPath)
                Assert.True(mount.ReadOnlyProperty == true || writable.Contains(hostPath.Path), $"{hostPath.Path} is mounted writable");
        }
    }

    /// <summary>The first column of the capability table in docs/deployment.md.</summary>
    private static List<string> DocumentedCapabilities() =>
    [
        // The one answer to "which permissions": the README's section, which docs/deployment.md points to.
        .. File.ReadLines(Path.Combine(RepositoryPaths.Root, "README.md"))
            .Select(line => TableCapability().Match(line)).Where(m => m.Success).Select(m => m.Groups[1].Value).Order(),
    ];

    [GeneratedRegex(@"^\| `(CAP_[A-Z_]+)` \|")]
    private static partial Regex TableCapability();

    [GeneratedRegex(@"^CapabilityBoundingSet=(.*)$", RegexOptions.Multiline)]
    private static partial Regex BoundingSet();
}
