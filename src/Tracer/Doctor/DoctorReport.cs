using System.Text.Json;
using Tracer.Errors;

namespace Tracer.Doctor;

/// <summary><c>tracer doctor</c>: the node's facts, what loads here, and what that means for attribution.</summary>
internal static class DoctorReport
{
    public static int Run(bool json)
    {
        var facts = SystemFacts.Read();
        var features = facts.CanLoadBpf && facts.LibbpfVersion is not null ? FeatureProbes.Run() : [];
        var implications = Implications(facts, features);
        if (json)
            WriteJson(facts, features, implications);
        else
            WriteText(facts, features, implications);
        return facts.CanLoadBpf && facts.Btf && facts.LibbpfVersion is not null ? ExitCodes.Success : ExitCodes.MissingPrivilegeOrFeature;
    }

    internal static List<string> Implications(SystemFacts facts, IReadOnlyList<FeatureResult> features)
    {
        bool Works(string name) => features.Any(f => f.Feature == name && f.Works);
        var lines = new List<string>();
        if (facts.LibbpfVersion is null)
            lines.Add("libbpf.so.1 is missing: install libbpf1; nothing can be traced.");
        if (!facts.CanLoadBpf)
            lines.Add($"This process cannot load BPF programs: run as root with CAP_SYS_ADMIN (or CAP_BPF and CAP_PERFMON); see {UserError.PermissionsSection}. Program types were not tried.");
        if (!facts.Btf)
            lines.Add("No kernel BTF: CO-RE programs cannot be relocated; Tracer cannot run on this kernel.");
        if (!facts.Tracefs)
            lines.Add("tracefs is not mounted, so classic tracepoints cannot attach (tp_btf does not need it); " +
                      "mount it with 'mount -t tracefs nodev /sys/kernel/tracing' if tp_btf is refused.");
        if (features.Count == 0)
            return lines;
        lines.Add(Works("tp_btf") ? "Drops are traced with tp_btf/kfree_skb (BTF-typed, lowest cost)."
            : Works("tracepoint") ? "Drops are traced with the classic skb:kfree_skb tracepoint (tp_btf refused)."
            : "Neither tp_btf nor the kfree_skb tracepoint attaches: drops cannot be traced.");
        lines.Add(Works("fexit") || Works("kprobe")
            ? "Netfilter hook verdicts can be observed per hook function: attribution to a hook is exact."
            : "fexit and kprobes are unavailable: a netfilter hook is named by bracketing it with accept-only sentinels (confidence 'bracketed').");
        lines.Add(Works("netfilter_link")
            ? "BPF netfilter links attach: sentinel bracketing is available."
            : "BPF netfilter links do not attach (kernel before 6.4?): hooks are inferred from the drop location and stack only.");
        lines.Add(Works("lsm") ? "BPF-LSM programs load: LSM denials can be observed directly."
            : "BPF-LSM programs are refused: LSM drops are inferred from the drop reason and active LSMs.");
        if (facts.Selinux)
            lines.Add("SELinux is active: its enforced denials are observed (avc:selinux_audited); a drop SELinux makes is exact, " +
                      "with the denial's contexts, class and permission.");
        return lines;
    }

    private static void WriteText(SystemFacts facts, IReadOnlyList<FeatureResult> features, List<string> implications)
    {
        Console.WriteLine($"kernel        {facts.KernelRelease}");
        Console.WriteLine($"btf           {(facts.Btf ? SystemFacts.BtfPath : "missing")}");
        Console.WriteLine($"tracefs       {(facts.Tracefs ? "mounted" : "not mounted")}");
        Console.WriteLine($"lockdown      {facts.Lockdown ?? "unknown (securityfs not mounted)"}");
        Console.WriteLine($"lsm           {(facts.ActiveLsms is { } lsms ? string.Join(",", lsms) : "unknown (securityfs not mounted)")}");
        Console.WriteLine($"libbpf        {facts.LibbpfVersion ?? "missing"}");
        Console.WriteLine($"privileges    {(facts.Root ? "root" : "not root")}; effective {string.Join(" ", facts.Capabilities.DefaultIfEmpty("none"))}");
        Console.WriteLine();
        foreach (var f in features)
        {
            var state = !f.Loads ? "no  (load)" : f.Attaches == false ? "no  (attach)" : f.Attaches == true ? "yes" : "yes (load only)";
            Console.WriteLine($"{f.Feature,-15} {state,-16} {f.UsedFor}{(f.Error is null ? "" : $" — {f.Error}")}");
        }
        Console.WriteLine();
        foreach (var line in implications)
            Console.WriteLine($"- {line}");
    }

    private static void WriteJson(SystemFacts facts, IReadOnlyList<FeatureResult> features, List<string> implications)
    {
        using var writer = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        writer.WriteString("kernel", facts.KernelRelease);
        writer.WriteBoolean("btf", facts.Btf);
        writer.WriteBoolean("tracefs", facts.Tracefs);
        writer.WriteString("lockdown", facts.Lockdown);
        writer.WriteStartArray("lsm");
        foreach (var lsm in facts.ActiveLsms ?? [])
            writer.WriteStringValue(lsm);
        writer.WriteEndArray();
        writer.WriteString("libbpf", facts.LibbpfVersion);
        writer.WriteBoolean("root", facts.Root);
        writer.WriteStartArray("capabilities");
        foreach (var capability in facts.Capabilities)
            writer.WriteStringValue(capability);
        writer.WriteEndArray();
        writer.WriteStartObject("features");
        foreach (var f in features)
        {
            writer.WriteStartObject(f.Feature);
            writer.WriteBoolean("loads", f.Loads);
            if (f.Attaches is { } attaches)
                writer.WriteBoolean("attaches", attaches);
            else
                writer.WriteNull("attaches");
            writer.WriteBoolean("works", f.Works);
            writer.WriteString("error", f.Error);
            writer.WriteString("used_for", f.UsedFor);
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
        writer.WriteStartArray("implications");
        foreach (var line in implications)
            writer.WriteStringValue(line);
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        Console.WriteLine();
    }
}
