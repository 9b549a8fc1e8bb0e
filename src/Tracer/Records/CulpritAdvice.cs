namespace Tracer.Records;

/// <summary>What a person does next about a culprit: diagnose's verdict, the pod's Event and the daemon's log say the same.</summary>
internal static class CulpritAdvice
{
    /// <summary>Where to see the rule, whom to ask about a program or module, what to check for the stack.</summary>
    public static string NextStep(this Culprit? c) => c switch
    {
        { Kind: CulpritKind.NftablesRule or CulpritKind.NftablesPolicy } =>
            $"See the rule with 'nft -a list chain {c.Family} {c.Table} {c.Chain}'{(c.Handle is { } h ? $" (handle {h})" : "")}, and fix or remove it.",
        { Kind: CulpritKind.IptablesRule } =>
            $"See the rule with 'iptables-legacy -t {c.Table} -L {c.Chain} -v --line-numbers'{(c.RuleNumber is { } n ? $" (rule {n})" : "")}, and fix or remove it.",
        { Kind: CulpritKind.BpfProgram } =>
            $"Find who loaded BPF program {c.ProgramName} (id {c.ProgramId}): 'bpftool prog show id {c.ProgramId}' and 'bpftool link show' name its process; " +
            "a security agent's port-scan or traffic policy is the usual owner: exempt the node's own traffic to its pods there.",
        { Kind: CulpritKind.NetfilterHook, Function: null, Module: null } =>
            $"Several netfilter hooks run {(c.Hook is { } hook ? $"at {c.Family} {hook}" : "where it was dropped")} and this drop was not told apart yet: " +
            "Tracer arms its sentinels and verdict observers there, so the next drops name the hook. Meanwhile 'nft list ruleset', 'bpftool net' and 'lsmod' list the candidates.",
        { Kind: CulpritKind.NetfilterHook or CulpritKind.KernelModule } =>
            $"Kernel module {c.Module ?? "(built in)"} drops them in its netfilter hook {c.Function}, which iptables and nft do not show: " +
            $"find the agent that loaded it ('modinfo {c.Module}', its service), and exempt the node's traffic to its pods in its policy, or stop it to confirm.",
        { Kind: CulpritKind.Lsm, Check: { } check } => $"SELinux denies them ({c.Permissions} on {c.Tclass} {c.Tcontext}). Check: {check}",
        { Kind: CulpritKind.Lsm } => $"The LSM {c.LsmName?.WireName() ?? c.ProgramName} denies them: check its policy for the pod's traffic.",
        { Kind: CulpritKind.KernelStack } => c.Check ?? c.Explanation ?? "Check the kernel's networking setup for this reason.",
        _ => "Tracer saw the drops but could not name who dropped them: run 'tracer trace --ip ADDR --stack' and look at the stacks.",
    };
}
