using System.Text.Json.Serialization;

namespace Tracer.Records;

/// <summary>
/// Whose a culprit is: the object a person can act on — a Service, a policy, the process holding a BPF program,
/// a kernel module and its package. The fields and their names are a stable interface: docs/culprit.md.
/// </summary>
internal sealed record CulpritOwner
{
    public required OwnerKind Kind { get; init; }

    /// <summary>As a person writes it: <c>shop/web:8080</c>, <c>default.allow-probes</c>, <c>/usr/sbin/edr-agent</c>, <c>edr_agent</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The Kubernetes namespace of a Service or a namespaced policy.</summary>
    public string? Namespace { get; init; }

    /// <summary>One plain sentence: "Service shop/web:8080 has no ready endpoints".</summary>
    public required string Summary { get; init; }

    public required CulpritConfidence Confidence { get; init; }
    public IReadOnlyList<string> Evidence { get; init; } = [];

    /// <summary>A policy's pod selector, as the Kubernetes API has it.</summary>
    public string? PodSelector { get; init; }

    /// <summary>The processes that hold a BPF program or its link open.</summary>
    public IReadOnlyList<OwnerProcess>? Processes { get; init; }

    /// <summary>Where in bpffs a program no process holds is pinned.</summary>
    public string? PinPath { get; init; }

    /// <summary>The pod (namespace/name), container and workload ("DaemonSet security/edr-agent") a process runs in.</summary>
    public string? Pod { get; init; }
    public string? Container { get; init; }
    public string? Workload { get; init; }

    /// <summary>The package that installed the executable or the module, where there is a package manager.</summary>
    public OwnerPackage? Package { get; init; }

    /// <summary>A kernel module's file and modinfo fields.</summary>
    public ModuleFacts? Module { get; init; }
}

/// <summary>A process holding a BPF program: as /proc shows it, with its cgroup and, inside a container, the container's and pod's ids.</summary>
internal sealed record OwnerProcess(int Pid, string Comm, string? Exe, string? Cmdline, string? Cgroup)
{
    public string? ContainerId { get; init; }
    public string? PodUid { get; init; }
}

/// <summary>A package as its manager names it ("dpkg", "rpm").</summary>
internal sealed record OwnerPackage(string Manager, string Name, string? Version);

/// <summary>A kernel module: its file and the fields modinfo shows, and its taint flags in words.</summary>
internal sealed record ModuleFacts
{
    public string? Path { get; init; }
    public string? Version { get; init; }
    public string? Author { get; init; }
    public string? Description { get; init; }
    public string? License { get; init; }
    public string? Vermagic { get; init; }
    public string? Signer { get; init; }

    /// <summary>The signing certificate's serial number (or the key identifier the signature names), as modinfo's sig_key.</summary>
    public string? SigKey { get; init; }
    [JsonPropertyName("sig_hashalgo")]
    public string? SigHashAlgo { get; init; }
    [JsonPropertyName("srcversion")]
    public string? SrcVersion { get; init; }
    public IReadOnlyList<string> Taints { get; init; } = [];
}

/// <summary>The owner as JSON, in the JSON lines (diagnose's document serializes it with the culprit).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CulpritOwner))]
internal sealed partial class CulpritOwnerJson : JsonSerializerContext;
