using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Doctor;

/// <summary>
/// doctor tries every program type on the real kernel. What it should find is asked of the kernel here
/// by other means (tracefs, kallsyms, BTF, bpf(2) directly), so the tests hold on any kernel, not only
/// on this project's machines (where fentry, fexit and BPF-LSM are refused and kprobes are missing).
/// </summary>
[KernelTest]
public sealed partial class DoctorTests
{
    private const string Tracefs = "/sys/kernel/tracing";

    [Fact]
    public void ReportsWhatThisKernelAllowsByTryingIt()
    {
        // A private mount namespace with tracefs, so the classic tracepoint can attach without mounting
        // anything on the machine itself; it disappears with the process. The kernel's own view of tracefs
        // is read in the same namespace.
        var json = Shell.Check("unshare", "--mount", "--propagation", "private", "sh", "-c",
            $"mount -t tracefs nodev {Tracefs} && exec {RepositoryPaths.TracerExecutable} doctor --json");
        var kernel = KernelView();
        using var doctor = JsonDocument.Parse(json);
        var features = doctor.RootElement.GetProperty("features");
        bool Works(string name) => features.GetProperty(name).GetProperty("works").GetBoolean();

        Assert.Equal(File.Exists("/sys/kernel/btf/vmlinux"), doctor.RootElement.GetProperty("btf").GetBoolean());
        Assert.True(doctor.RootElement.GetProperty("tracefs").GetBoolean()); // mounted for it above
        Assert.Equal(kernel.KfreeSkbTracepoint, Works("tracepoint"));
        Assert.Equal(kernel.KfreeSkbTracepoint, Works("raw_tp"));
        Assert.Equal(kernel.KfreeSkbTracepoint && kernel.Btf && Refusal(ProgTypeTracing, AttachRawTp) is null, Works("tp_btf"));
        Assert.Equal(kernel.NetfilterLinks, Works("netfilter_link"));
        Assert.Equal(kernel.Kprobes && kernel.HasSymbol("nf_hook_slow"), Works("kprobe"));
        foreach (var (feature, programType, attachType) in new[] { ("fentry", ProgTypeTracing, AttachFentry), ("fexit", ProgTypeTracing, AttachFexit),
                                                                   ("lsm", ProgTypeLsm, AttachLsmMac) })
        {
            var refusal = Refusal(programType, attachType);
            var result = features.GetProperty(feature);
            Assert.True((refusal is null) == result.GetProperty("loads").GetBoolean(), $"{feature}: the kernel answers bpf(2) with errno {refusal}; doctor says {result}");
            if (refusal == (int)Errno.EPERM)
                Assert.Contains("EPERM", result.GetProperty("error").GetString());
        }
        // Without fexit or kprobes a hook can only be bracketed; with either, its verdicts are observed.
        var implication = Works("fexit") || Works("kprobe") ? "attribution to a hook is exact" : "bracketed";
        Assert.Contains(doctor.RootElement.GetProperty("implications").EnumerateArray(), i => i.GetString()!.Contains(implication, StringComparison.Ordinal));
    }

    [Fact]
    public void TheNetfilterProbeLeavesNoLinkBehind()
    {
        var doctor = JsonDocument.Parse(Shell.Check(RepositoryPaths.TracerExecutable, "doctor", "--json"));
        var netfilter = doctor.RootElement.GetProperty("features").GetProperty("netfilter_link");
        Assert.Equal(KernelView().NetfilterLinks, netfilter.GetProperty("attaches").ValueKind == JsonValueKind.True);

        // A link left behind would keep its program loaded; the kernel frees a released one after a grace period.
        Poll.Until(() => !Shell.Check("bpftool", "prog", "show").Contains("probe_netfilter", StringComparison.Ordinal), TimeSpan.FromSeconds(10),
                   () => "probe_netfilter is still loaded");
    }

    /// <summary>What the kernel says of itself, read from the calling namespace (tracefs must be mounted in it for the tracing facts).</summary>
    private sealed record KernelFacts(bool Btf, bool KfreeSkbTracepoint, bool Kprobes, bool NetfilterLinks, HashSet<string> Symbols)
    {
        public bool HasSymbol(string name) => Symbols.Contains(name);
    }

    private static KernelFacts KernelView()
    {
        // "ffffffff81f80850 T nf_hook_slow [module]": the name is the third field.
        var symbols = File.ReadLines("/proc/kallsyms").Select(l => l.Split(' ', 4)).Where(f => f.Length >= 3).Select(f => f[2].Trim()).ToHashSet();
        // Read in a private namespace with tracefs mounted, as doctor ran.
        var tracing = Shell.Check("unshare", "--mount", "--propagation", "private", "sh", "-c",
            $"mount -t tracefs nodev {Tracefs} && ls {Tracefs} && (ls {Tracefs}/events/skb 2>/dev/null || true)");
        var entries = tracing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        return new KernelFacts(
            File.Exists("/sys/kernel/btf/vmlinux"),
            entries.Contains("kfree_skb"),
            // libbpf attaches kprobes through the kprobe PMU, or else through tracefs' kprobe_events.
            Directory.Exists("/sys/bus/event_source/devices/kprobe") || entries.Contains("kprobe_events"),
            symbols.Contains("bpf_nf_link_attach"), // BPF netfilter links: 6.4+, CONFIG_NETFILTER_BPF_LINK
            symbols);
    }

    // UAPI numbers (include/uapi/linux/bpf.h): stable.
    private const uint ProgTypeTracing = 26;
    private const uint ProgTypeLsm = 29;
    private const uint AttachRawTp = 23;
    private const uint AttachFentry = 24;
    private const uint AttachFexit = 25;
    private const uint AttachLsmMac = 27;

    /// <summary>
    /// The errno with which the kernel refuses programs of this type and attach type, asked through bpf(2) itself
    /// (neither Tracer nor libbpf involved); null when it allows them. The program ("r0 = 0; exit") names BTF id 1,
    /// which is no function: a kernel that allows the type goes on to judge that target and says so in the verifier
    /// log (the way libbpf's own probe tells), one that refuses the type answers before.
    /// </summary>
    private static unsafe int? Refusal(uint programType, uint expectedAttachType)
    {
        byte[] instructions = [0xb7, 0, 0, 0, 0, 0, 0, 0, /* r0 = 0 */ 0x95, 0, 0, 0, 0, 0, 0, 0 /* exit */];
        var license = "GPL\0"u8.ToArray();
        var log = new byte[4096];
        var attr = new byte[128]; // union bpf_attr, BPF_PROG_LOAD's fields; the rest stays zero
        fixed (byte* insns = instructions, gpl = license, logBuffer = log, attribute = attr)
        {
            var a = attr.AsSpan();
            BinaryPrimitives.WriteUInt32LittleEndian(a[0..], programType);
            BinaryPrimitives.WriteUInt32LittleEndian(a[4..], 2); // insn_cnt
            BinaryPrimitives.WriteUInt64LittleEndian(a[8..], (ulong)insns);
            BinaryPrimitives.WriteUInt64LittleEndian(a[16..], (ulong)gpl);
            BinaryPrimitives.WriteUInt32LittleEndian(a[24..], 1); // log_level
            BinaryPrimitives.WriteUInt32LittleEndian(a[28..], (uint)log.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(a[32..], (ulong)logBuffer);
            BinaryPrimitives.WriteUInt32LittleEndian(a[68..], expectedAttachType);
            BinaryPrimitives.WriteUInt32LittleEndian(a[108..], 1); // attach_btf_id
            var fd = Syscall(SysBpf, BpfProgLoad, attribute, (uint)attr.Length);
            if (fd >= 0)
            {
                Close((int)fd);
                return null;
            }
            var errno = Marshal.GetLastPInvokeError();
            var verifier = Encoding.ASCII.GetString(log).TrimEnd('\0');
            return errno == (int)Errno.EINVAL && verifier.Contains("attach_btf_id 1", StringComparison.Ordinal) ? null : errno;
        }
    }

    private const long SysBpf = 321; // x86-64
    private const long BpfProgLoad = 5;

    // syscall(2) is variadic; on x86-64 a fixed-argument declaration passes the same registers.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long Syscall(long number, long command, void* attr, uint size);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
