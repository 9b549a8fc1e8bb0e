using System.Globalization;
using Tracer.Native;

namespace Tracer.Doctor;

/// <summary>What the node offers Tracer, read from /proc and /sys.</summary>
internal sealed record SystemFacts(
    string KernelRelease,
    bool Btf,
    bool Tracefs,
    string? Lockdown,
    IReadOnlyList<string>? ActiveLsms,
    bool Selinux,
    string? LibbpfVersion,
    bool Root,
    IReadOnlyList<string> Capabilities,
    bool CanLoadBpf)
{
    public const string BtfPath = "/sys/kernel/btf/vmlinux";

    private static readonly (int Bit, string Name)[] InterestingCapabilities =
    [
        (12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW"), (19, "CAP_SYS_PTRACE"), (21, "CAP_SYS_ADMIN"), (24, "CAP_SYS_RESOURCE"),
        (34, "CAP_SYSLOG"), (38, "CAP_PERFMON"), (39, "CAP_BPF"),
    ];

    public static SystemFacts Read()
    {
        var capabilities = EffectiveCapabilities();
        return new SystemFacts(
            File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            File.Exists(BtfPath),
            Directory.Exists("/sys/kernel/tracing/events") || Directory.Exists("/sys/kernel/debug/tracing/events"),
            ReadSecurityFs("lockdown") is { } lockdown ? ActiveChoice(lockdown) : null,
            ReadSecurityFs("lsm")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Probes.SelinuxAvc.IsActive(),
            ReadLibbpfVersion(),
            IsEffectiveRoot(),
            capabilities,
            capabilities.Contains("CAP_SYS_ADMIN") || capabilities.Contains("CAP_BPF") && capabilities.Contains("CAP_PERFMON"));
    }

    /// <summary>securityfs is not always mounted; then these facts are unknown rather than guessed.</summary>
    private static string? ReadSecurityFs(string name)
    {
        var path = Path.Combine("/sys/kernel/security", name);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>"none [integrity] confidentiality" → "integrity".</summary>
    private static string ActiveChoice(string choices)
    {
        var start = choices.IndexOf('[', StringComparison.Ordinal);
        var end = choices.IndexOf(']', StringComparison.Ordinal);
        return start >= 0 && end > start ? choices[(start + 1)..end] : choices;
    }

    private static string? ReadLibbpfVersion()
    {
        try
        {
            return $"{Proxy.libbpf_major_version()}.{Proxy.libbpf_minor_version()}";
        }
        catch (DllNotFoundException)
        {
            return null;
        }
    }

    private static bool IsEffectiveRoot() =>
        File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            ?.Split('\t', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2) == "0";

    private static List<string> EffectiveCapabilities()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        var mask = line is null ? 0 : ulong.Parse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return InterestingCapabilities.Where(c => (mask & 1UL << c.Bit) != 0).Select(c => c.Name).ToList();
    }
}
