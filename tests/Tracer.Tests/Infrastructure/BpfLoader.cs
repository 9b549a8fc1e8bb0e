namespace Tracer.Tests.Infrastructure;

/// <summary>
/// tests/tools/bpf_load (also the kernel matrix guests' loader), run in a namespace: attaches what
/// Debian 12's iproute2 and bpftool cannot (tcx links) and holds it until disposed.
/// </summary>
internal sealed class BpfLoader : IDisposable
{
    private readonly ToolProcess _process;

    private BpfLoader(ToolProcess process)
    {
        _process = process;
        ProgramIds = [.. process.Ready.Split(' ').Skip(1).Select(uint.Parse)];
    }

    /// <summary>The loader's executable (built for the test run).</summary>
    public static string Path => ToolProcess.Executable("bpf_load", "bpf");

    /// <summary>The loader's process: the one holding the programs and links.</summary>
    public int Pid => _process.Pid;

    /// <summary>The ids the kernel gave the loaded programs.</summary>
    public uint[] ProgramIds { get; }

    /// <summary>Runs <c>bpf_load OBJECT ARGS…</c> inside <paramref name="ns"/> and waits until it has attached ("attached ID…").</summary>
    public static BpfLoader Start(string ns, string bpfObject, params string[] arguments) =>
        new(ToolProcess.Start("bpf_load", "bpf", ns, "attached", [bpfObject, .. arguments]));

    /// <summary>SIGTERM: the links go with the process.</summary>
    public void Dispose() => _process.Dispose();
}
