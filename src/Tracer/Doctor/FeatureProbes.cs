using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;
using Programs = Tracer.Native.FeatureProbesObject.Programs;

namespace Tracer.Doctor;

/// <summary>Whether one program type or attach method works on this kernel, found by trying it.</summary>
internal sealed record FeatureResult(string Feature, bool Loads, bool? Attaches, string? Error, string UsedFor)
{
    public bool Works => Loads && Attaches != false;
}

/// <summary>
/// Loads each program of bpf/feature_probes.bpf.c alone and, where that changes nothing for anyone
/// else, attaches it and detaches it again. The netfilter probe is attached inside a private network
/// namespace that disappears with its thread; LSM, tc and cgroup probes are only loaded, since
/// attaching them would touch every socket, a real device or a real cgroup.
/// </summary>
internal static class FeatureProbes
{
    private enum Trial { LoadOnly, Attach, AttachNetfilterInPrivateNamespace }

    private static readonly (string Feature, string Program, Trial Trial, string UsedFor)[] Probes =
    [
        ("tracepoint", Programs.probe_tracepoint, Trial.Attach, "drop events where tp_btf is refused"),
        ("tp_btf", Programs.probe_tp_btf, Trial.Attach, "drop events (preferred: BTF-typed, cheapest)"),
        ("raw_tp", Programs.probe_raw_tp, Trial.Attach, "drop events on kernels without tp_btf"),
        ("fentry", Programs.probe_fentry, Trial.Attach, "entry of netfilter hook functions"),
        ("fexit", Programs.probe_fexit, Trial.Attach, "exact verdict of each netfilter hook function"),
        ("kprobe", Programs.probe_kprobe, Trial.Attach, "exact verdicts where fexit is refused"),
        ("lsm", Programs.probe_lsm, Trial.LoadOnly, "observing BPF-LSM decisions"),
        ("netfilter_link", Programs.probe_netfilter, Trial.AttachNetfilterInPrivateNamespace, "accept-only sentinels that bracket netfilter hooks"),
        ("tc", Programs.probe_tc, Trial.LoadOnly, "tc program identification"),
        ("cgroup_skb", Programs.probe_cgroup_skb, Trial.LoadOnly, "cgroup program identification"),
    ];

    public static IReadOnlyList<FeatureResult> Run() => Probes.Select(p => Try(p.Feature, p.Program, p.Trial, p.UsedFor)).ToList();

    private static FeatureResult Try(string feature, string programName, Trial trial, string usedFor)
    {
        using var obj = EmbeddedObjects.Open(FeatureProbesObject.File);
        foreach (var candidate in obj.Programs)
            candidate.Autoload = candidate.Name == programName;
        var program = obj.Program(programName);
        if (trial == Trial.AttachNetfilterInPrivateNamespace)
            program.SetType((bpf_prog_type)Libbpf.TRACER_BPF_PROG_TYPE_NETFILTER, (bpf_attach_type)Libbpf.TRACER_BPF_NETFILTER);
        try
        {
            obj.Load();
        }
        catch (NativeException e)
        {
            return new FeatureResult(feature, false, null, Describe(e), usedFor);
        }

        try
        {
            switch (trial)
            {
                case Trial.LoadOnly:
                    return new FeatureResult(feature, true, null, null, usedFor);
                case Trial.Attach:
                    program.Attach().Dispose();
                    break;
                case Trial.AttachNetfilterInPrivateNamespace:
                    NetworkNamespace.RunInPrivate(() =>
                    {
                        program.AttachNetfilter((uint)NfProto.NFPROTO_IPV4, (uint)nf_inet_hooks.NF_INET_LOCAL_OUT, priority: 0).Dispose();
                        return true;
                    });
                    break;
            }
            return new FeatureResult(feature, true, true, null, usedFor);
        }
        catch (NativeException e)
        {
            return new FeatureResult(feature, true, false, Describe(e), usedFor);
        }
    }

    private static string Describe(NativeException e) => e.Errno switch
    {
        Errno.EPERM => "refused: EPERM (kernel policy, lockdown or missing capability)",
        Errno.EOPNOTSUPP or KernelErrno.ENOTSUPP => "not supported by this kernel (EOPNOTSUPP)",
        Errno.ENOENT => "not available: ENOENT (the kernel lacks the attach point or the feature)",
        _ => e.Message,
    };
}
