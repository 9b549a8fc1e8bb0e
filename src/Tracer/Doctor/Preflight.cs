using Tracer.Errors;

namespace Tracer.Doctor;

/// <summary>What would make loading fail with an obscure error, checked before any command loads BPF, to say it plainly.</summary>
internal static class Preflight
{
    public static void Check()
    {
        var facts = SystemFacts.Read();
        if (!facts.CanLoadBpf)
            throw new UserError(
                "Tracer cannot load BPF programs: it needs root with CAP_SYS_ADMIN (or CAP_BPF and CAP_PERFMON on 5.8 and later).",
                $"Run it as root on the node (sudo, a privileged pod, or the DaemonSet); which capabilities and why: {UserError.PermissionsSection}. 'tracer doctor' shows what this process has.",
                ExitCodes.MissingPrivilegeOrFeature);
        if (!facts.Btf)
            throw new UserError(
                $"This kernel exposes no BTF ({SystemFacts.BtfPath}), which Tracer's CO-RE programs need.",
                "Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions' kernels since 5.4 are).",
                ExitCodes.MissingPrivilegeOrFeature);
    }
}
