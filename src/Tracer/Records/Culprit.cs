using System.Text.Json.Serialization;

namespace Tracer.Records;

/// <summary>Who dropped a packet. The fields and their names are a stable interface: docs/culprit.md.</summary>
internal sealed record Culprit
{
    public required CulpritKind Kind { get; init; }
    public required string Summary { get; init; }
    public required CulpritConfidence Confidence { get; init; }
    public IReadOnlyList<string> Evidence { get; init; } = [];

    // Netfilter: where in the hook chain.
    public string? Family { get; init; }
    public string? Hook { get; init; }
    public int? Priority { get; init; }

    // nftables / iptables.
    public string? Table { get; init; }
    public string? Chain { get; init; }
    public ulong? Handle { get; init; }
    public int? RuleNumber { get; init; }
    public string? Rule { get; init; }

    /// <summary>The NFQUEUE a rule handed the packet to: a user-space process decides its fate.</summary>
    public ushort? Queue { get; init; }

    // A function (module or kernel).
    public string? Function { get; init; }
    public string? Module { get; init; }
    public bool? OutOfTree { get; init; }

    // A BPF program.
    public uint? ProgramId { get; init; }
    public string? ProgramName { get; init; }
    public CulpritAttach? Attach { get; init; }

    [JsonPropertyName("lsm")] // as in the JSON lines and OpenTelemetry; diagnose serializes this record
    public CulpritLsm? LsmName { get; init; }

    // An SELinux denial: the contexts, class and permissions as the audit log's AVC record names them.
    public string? Scontext { get; init; }
    public string? Tcontext { get; init; }
    public string? Tclass { get; init; }
    public string? Permissions { get; init; }

    /// <summary>For the plain stack: what the reason means and what to check (an SELinux denial: what to check).</summary>
    public string? Explanation { get; init; }
    public string? Check { get; init; }

    /// <summary>Whose it is: the Service, policy, process, module or package behind the kernel object; null where none is known.</summary>
    public CulpritOwner? Owner { get; init; }

    /// <summary>
    /// A short, stable name of the culprit for metric labels, alerts and dashboards: what kind and which object, never
    /// an address, a port or a program id (a reloaded program gets a new one). Bounded by the node's rules, hooks,
    /// programs and modules: <c>nftables:inet/filter/input#12</c>, <c>iptables:filter/INPUT#3</c>,
    /// <c>module:edr_agent:edr_local_out</c>, <c>bpf:edr_portscan</c>, <c>lsm:selinux</c>, <c>stack:tcp_v4_rcv</c>.
    /// </summary>
    [JsonIgnore]
    public string Id => Kind switch
    {
        CulpritKind.NftablesRule => $"nftables:{Family}/{Table}/{Chain}{(Handle is { } handle ? $"#{handle}" : "")}",
        CulpritKind.NftablesPolicy => $"nftables:{Family}/{Table}/{Chain}:policy",
        CulpritKind.IptablesRule => $"iptables:{Table}/{Chain}{(RuleNumber is { } number ? $"#{number}" : Handle is { } handle ? $"#h{handle}" : "")}",
        CulpritKind.NetfilterHook or CulpritKind.KernelModule when Module is { } module => $"module:{module}{(Function is { } f ? $":{f}" : "")}",
        CulpritKind.NetfilterHook => Function is { } function ? $"hook:{function}"
            : Hook is null ? "hook:unknown" : $"hook:{Family}/{Hook}{(Priority is { } p ? $"@{p}" : "")}",
        CulpritKind.KernelModule => "module",
        CulpritKind.BpfProgram => $"bpf:{ProgramName ?? "unnamed"}",
        CulpritKind.Lsm => $"lsm:{LsmName?.WireName() ?? "unknown"}",
        CulpritKind.KernelStack => Function is { } function ? $"stack:{function}" : "stack",
        _ => "unknown",
    };

    /// <summary>The owner's bounded name for metric labels: <c>service:shop/web:8080</c>, <c>process:/usr/sbin/edr-agent</c>, <c>kernel-module:edr_agent</c>.</summary>
    [JsonIgnore]
    public string? OwnerId => Owner is { } owner ? $"{owner.Kind.WireName()}:{owner.Name}" : null;

    /// <summary>The culprit in words, and whose it is: what logs, Events, tables and diagnose say.</summary>
    [JsonIgnore]
    public string Sentence => Owner is { } owner ? $"{Summary.TrimEnd('.')}; owner: {owner.Summary}" : Summary;

    /// <summary>What makes two culprits the same one, whatever confidence, summary or evidence named them.</summary>
    [JsonIgnore]
    public CulpritIdentity Identity => new(Kind, Table, Chain, Handle, Function, Module, ProgramId, Hook, Priority, LsmName);
}

/// <summary>The fields that tell one culprit from another (<see cref="Culprit.Identity"/>).</summary>
internal readonly record struct CulpritIdentity(CulpritKind Kind, string? Table, string? Chain, ulong? Handle, string? Function, string? Module,
                                                uint? ProgramId, string? Hook, int? Priority, CulpritLsm? Lsm);
