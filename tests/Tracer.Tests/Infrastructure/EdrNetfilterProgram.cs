using Tracer.Kernel;
using Tracer.Native;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// The EDR stand-in (Programs/edr_drop.bpf.c), compiled with clang and attached as a BPF netfilter
/// link inside a test namespace. Disposing detaches it; the link also dies with the test process.
/// </summary>
internal sealed class EdrNetfilterProgram : IDisposable
{
    private readonly BpfObject _object;
    private readonly BpfLink _link;

    private EdrNetfilterProgram(BpfObject obj, BpfLink link, uint id)
    {
        _object = obj;
        _link = link;
        ProgramId = id;
    }

    public uint ProgramId { get; }

    public const string ProgramName = "edr_drop";

    /// <summary>The port-scan protection of Programs/edr_portscan.bpf.c.</summary>
    public const string PortScanProgram = "edr_portscan";

    /// <summary>
    /// Attaches <paramref name="name"/> (a program in Programs/NAME.bpf.c) at <paramref name="hook"/> (NF_INET_*) and
    /// <paramref name="priority"/> of namespace <paramref name="ns"/>, for IPv4 or IPv6; <paramref name="configure"/> sets its constants.
    /// </summary>
    public static EdrNetfilterProgram Attach(string ns, byte family, byte hook, int priority, string name = ProgramName, Action<BpfObject>? configure = null)
    {
        var obj = BpfObject.Open(File.ReadAllBytes(TestPrograms.Compile(name)), "edr");
        try
        {
            var program = obj.Program(name);
            configure?.Invoke(obj);
            program.SetType((bpf_prog_type)Libbpf.TRACER_BPF_PROG_TYPE_NETFILTER, (bpf_attach_type)Libbpf.TRACER_BPF_NETFILTER);
            obj.Load();
            var link = NetworkNamespace.RunIn($"/run/netns/{ns}", () => program.AttachNetfilter(family, hook, priority));
            return new EdrNetfilterProgram(obj, link, Proxy.bpf_obj_get_info_by_fd(program.Fd).id);
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _link.Dispose();
        _object.Dispose();
    }
}

/// <summary>The BPF programs under Infrastructure/Programs, compiled with the same clang and headers as bpf/.</summary>
internal static class TestPrograms
{
    public static string Compile(string name)
    {
        var output = Path.Combine(Path.GetTempPath(), $"tracer-test-{name}-{Environment.ProcessId}.bpf.o");
        Shell.Check("clang-19", "-target", "bpf", "-g", "-O2", "-D__TARGET_ARCH_x86",
                    "-I", Path.Combine(RepositoryPaths.Root, "bpf", "include"),
                    "-idirafter", $"/usr/include/{Shell.Check("gcc", "-print-multiarch").Trim()}",
                    "-c", Path.Combine(RepositoryPaths.Root, "tests", "Tracer.Tests", "Infrastructure", "Programs", $"{name}.bpf.c"),
                    "-o", output);
        return output;
    }
}
