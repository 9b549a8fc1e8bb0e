using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tracer.Records;

/// <summary>What dropped a packet; every output writes it by its wire name (<see cref="WireNames"/>).</summary>
[JsonConverter(typeof(CulpritKindJson))]
internal enum CulpritKind
{
    NftablesRule,
    NftablesPolicy,
    IptablesRule,
    NetfilterHook,
    BpfProgram,
    Lsm,
    KernelModule,
    KernelStack,
    Unknown,
}

/// <summary>Exact: the verdict was observed; bracketed: narrowed to one hook between two sentinels; inferred: from reason, location, context.</summary>
[JsonConverter(typeof(CulpritConfidenceJson))]
internal enum CulpritConfidence
{
    Exact,
    Bracketed,
    Inferred,
}

/// <summary>How the BPF program that dropped (or denied) the packet is attached.</summary>
[JsonConverter(typeof(CulpritAttachJson))]
internal enum CulpritAttach
{
    Netfilter,
    Tc,
    Tcx,
    Xdp,
    CgroupSkb,
    Lsm,
}

/// <summary>The Linux security module that denied the packet.</summary>
[JsonConverter(typeof(CulpritLsmJson))]
internal enum CulpritLsm
{
    Selinux,
    Apparmor,
    Bpf,
}

/// <summary>What owns a culprit (<see cref="CulpritOwner"/>).</summary>
[JsonConverter(typeof(OwnerKindJson))]
internal enum OwnerKind
{
    /// <summary>A Kubernetes Service, by the kube-proxy rules written for it.</summary>
    Service,
    /// <summary>kube-proxy itself: its rules that serve no one Service.</summary>
    KubeProxy,
    /// <summary>A Kubernetes NetworkPolicy, enforced by Calico or an nftables-based controller.</summary>
    NetworkPolicy,
    /// <summary>A Calico NetworkPolicy (namespaced) or GlobalNetworkPolicy.</summary>
    CalicoPolicy,
    CalicoGlobalPolicy,
    /// <summary>A Calico profile: a namespace's or service account's default rules.</summary>
    CalicoProfile,
    /// <summary>The processes that hold a BPF program.</summary>
    Process,
    /// <summary>A BPF program pinned in bpffs that no process holds.</summary>
    PinnedProgram,
    /// <summary>Calico's eBPF dataplane: felix's tc or XDP programs on an interface (a policy there, or felix's own checks).</summary>
    CalicoDataplane,
    KernelModule,
    ApparmorProfile,
}

/// <summary>
/// The names of culprit kinds, confidences, attach types and LSMs in every output — JSON lines, diagnose's document, text,
/// OpenTelemetry, the daemon's log. A stable interface (docs/json-output.md): the one place they are spelled.
/// </summary>
internal static class WireNames
{
    public static string WireName(this CulpritKind kind) => kind switch
    {
        CulpritKind.NftablesRule => "nftables-rule",
        CulpritKind.NftablesPolicy => "nftables-policy",
        CulpritKind.IptablesRule => "iptables-rule",
        CulpritKind.NetfilterHook => "netfilter-hook",
        CulpritKind.BpfProgram => "bpf-program",
        CulpritKind.Lsm => "lsm",
        CulpritKind.KernelModule => "kernel-module",
        CulpritKind.KernelStack => "kernel-stack",
        CulpritKind.Unknown => "unknown",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static string WireName(this CulpritConfidence confidence) => confidence switch
    {
        CulpritConfidence.Exact => "exact",
        CulpritConfidence.Bracketed => "bracketed",
        CulpritConfidence.Inferred => "inferred",
        _ => throw new ArgumentOutOfRangeException(nameof(confidence), confidence, null),
    };

    public static string WireName(this CulpritAttach attach) => attach switch
    {
        CulpritAttach.Netfilter => "netfilter",
        CulpritAttach.Tc => "tc",
        CulpritAttach.Tcx => "tcx",
        CulpritAttach.Xdp => "xdp",
        CulpritAttach.CgroupSkb => "cgroup_skb",
        CulpritAttach.Lsm => "lsm",
        _ => throw new ArgumentOutOfRangeException(nameof(attach), attach, null),
    };

    public static string WireName(this OwnerKind kind) => kind switch
    {
        OwnerKind.Service => "service",
        OwnerKind.KubeProxy => "kube-proxy",
        OwnerKind.NetworkPolicy => "network-policy",
        OwnerKind.CalicoPolicy => "calico-policy",
        OwnerKind.CalicoGlobalPolicy => "calico-global-policy",
        OwnerKind.CalicoProfile => "calico-profile",
        OwnerKind.Process => "process",
        OwnerKind.PinnedProgram => "pinned-program",
        OwnerKind.CalicoDataplane => "calico-dataplane",
        OwnerKind.KernelModule => "kernel-module",
        OwnerKind.ApparmorProfile => "apparmor-profile",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>As the kernel names the LSM (/sys/kernel/security/lsm).</summary>
    public static string WireName(this CulpritLsm lsm) => lsm switch
    {
        CulpritLsm.Selinux => "selinux",
        CulpritLsm.Apparmor => "apparmor",
        CulpritLsm.Bpf => "bpf",
        _ => throw new ArgumentOutOfRangeException(nameof(lsm), lsm, null),
    };
}

/// <summary>An enum as its wire name in System.Text.Json (source generation: no reflection over the enum).</summary>
internal abstract class WireNameJson<T>(Func<T, string> wireName) : JsonConverter<T> where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var name = reader.GetString();
        foreach (var value in Enum.GetValues<T>())
            if (wireName(value) == name)
                return value;
        throw new JsonException($"'{name}' is not a {typeof(T).Name}");
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(wireName(value));
}

internal sealed class CulpritKindJson() : WireNameJson<CulpritKind>(WireNames.WireName);

internal sealed class CulpritConfidenceJson() : WireNameJson<CulpritConfidence>(WireNames.WireName);

internal sealed class CulpritAttachJson() : WireNameJson<CulpritAttach>(WireNames.WireName);

internal sealed class CulpritLsmJson() : WireNameJson<CulpritLsm>(WireNames.WireName);

internal sealed class OwnerKindJson() : WireNameJson<OwnerKind>(WireNames.WireName);
