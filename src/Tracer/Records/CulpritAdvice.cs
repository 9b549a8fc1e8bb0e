namespace Tracer.Records;

/// <summary>What a person does next about a culprit: diagnose's verdict, the pod's Event and the daemon's log say the same.</summary>
internal static class CulpritAdvice
{
    /// <summary>Where to see the rule, whom to ask about a program or module, what to check for the stack.</summary>
    public static string NextStep(this Culprit? c) => c?.Owner is { } owner ? owner.NextStep(c) : c switch
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

    /// <summary>Whom to act on: the Service to give endpoints, the policy to edit, the agent whose exclusions to change, the vendor to contact.</summary>
    private static string NextStep(this CulpritOwner o, Culprit c) => o.Kind switch
    {
        OwnerKind.Service when o.Summary.Contains("no ready endpoints", StringComparison.Ordinal) =>
            $"Give Service {o.Name} ready endpoints: 'kubectl -n {o.Namespace} get endpointslices -l kubernetes.io/service-name={ServiceName(o)}' " +
            "lists them; check the selector matches running pods and that their readiness probes pass.",
        OwnerKind.Service =>
            $"kube-proxy drops this for Service {o.Name}: check its loadBalancerSourceRanges, externalTrafficPolicy and ports " +
            $"('kubectl -n {o.Namespace} get service {ServiceName(o)} -o yaml').",
        OwnerKind.KubeProxy => $"A kube-proxy rule drops it ({c.Chain}): check kube-proxy's configuration and logs on this node.",
        OwnerKind.NetworkPolicy =>
            $"NetworkPolicy {o.Name} does not allow this traffic: 'kubectl -n {o.Namespace} describe networkpolicy {LastPart(o.Name)}'; " +
            "add an ingress rule for it (the kubelet's probes come from the node's address).",
        OwnerKind.CalicoPolicy or OwnerKind.CalicoGlobalPolicy =>
            $"Calico {(o.Kind == OwnerKind.CalicoGlobalPolicy ? "GlobalNetworkPolicy" : "NetworkPolicy")} {o.Name} denies it " +
            $"('calicoctl get {(o.Kind == OwnerKind.CalicoGlobalPolicy ? "globalnetworkpolicy" : $"networkpolicy -n {o.Namespace}")} -o yaml'): allow this traffic there.",
        OwnerKind.CalicoProfile => $"Calico profile {o.Name} (the default rules of a namespace or service account) denies it: check its rules with 'calicoctl get profile {o.Name} -o yaml'.",
        OwnerKind.Process =>
            $"{o.Summary}. That agent's policy drops it: exempt the node's traffic to its pods in its configuration" +
            (o.Package is { } p ? $" (package {p.Name}{(p.Version is null ? "" : $" {p.Version}")}: its vendor)" : "") + ", or stop it to confirm.",
        OwnerKind.PinnedProgram =>
            $"BPF program {c.ProgramName} is pinned at {o.PinPath} and no process holds it: the path usually names the tool that pinned it; " +
            "detaching it and removing the pin releases it.",
        OwnerKind.CalicoDataplane =>
            $"Calico's eBPF dataplane drops it{(o.Name == "felix" ? "" : $" at {o.Name}")}: 'calico-node -bpf policy dump {(o.Name == "felix" ? "<interface>" : o.Name)} all' in this node's calico-node pod " +
            "shows the policies there and their rules' counters (with bpfPolicyDebugEnabled); allow this traffic in the policy that denies it, " +
            "or look for felix's own drop reasons with 'calico-node -bpf counters dump'.",
        OwnerKind.KernelModule =>
            $"{o.Summary}. It drops them in {(c.Function is null ? "its code" : $"its netfilter hook {c.Function}")}, which iptables and nft do not show: " +
            "exempt the node's traffic to its pods in the agent's policy, or contact " +
            (o.Package is { } p ? $"the vendor of package {p.Name}" : o.Module?.Author is { } author ? author : "its vendor") + "; unloading it confirms.",
        OwnerKind.ApparmorProfile => $"AppArmor profile {o.Name} denies it: 'aa-status' shows it; allow the network access in its profile.",
        _ => o.Summary,
    };

    private static string ServiceName(CulpritOwner service) => LastPart(service.Name).Split(':')[0];

    private static string LastPart(string name) => name[(name.LastIndexOf('/') + 1)..];
}
