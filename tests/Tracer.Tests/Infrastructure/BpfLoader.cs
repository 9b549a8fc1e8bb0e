using System.Diagnostics;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// tests/tools/bpf_load (also the kernel matrix guests' loader), run in a namespace: attaches what
/// Debian 12's iproute2 and bpftool cannot (tcx links) and holds it until disposed.
/// </summary>
internal sealed class BpfLoader : IDisposable
{
    private static readonly Lazy<string> Executable = new(() =>
    {
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tracer-test-bpf_load-{Environment.ProcessId}");
        Shell.Check("gcc", "-O2", "-o", output, System.IO.Path.Combine(RepositoryPaths.Root, "tests", "tools", "bpf_load.c"), "-lbpf");
        return output;
    });

    private readonly Process _process;

    private BpfLoader(Process process, uint[] programIds)
    {
        _process = process;
        ProgramIds = programIds;
    }

    /// <summary>The loader's executable (built for the test run).</summary>
    public static string Path => Executable.Value;

    /// <summary>The loader's process: the one holding the programs and links.</summary>
    public int Pid => _process.Id;

    /// <summary>The ids the kernel gave the loaded programs.</summary>
    public uint[] ProgramIds { get; }

    /// <summary>Runs <c>bpf_load OBJECT ARGS…</c> inside <paramref name="ns"/> and waits until it has attached.</summary>
    public static BpfLoader Start(string ns, string bpfObject, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["netns", "exec", ns, Executable.Value, bpfObject, .. arguments])
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("attached", StringComparison.Ordinal))
        {
            process.WaitForExit();
            throw new InvalidOperationException($"bpf_load {string.Join(' ', arguments)}: {process.StandardError.ReadToEnd().Trim()}");
        }
        return new BpfLoader(process, [.. line.Split(' ').Skip(1).Select(uint.Parse)]);
    }

    public void Dispose()
    {
        // SIGTERM: the links go with the process.
        Shell.Run("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _process.WaitForExit();
        _process.Dispose();
    }
}
