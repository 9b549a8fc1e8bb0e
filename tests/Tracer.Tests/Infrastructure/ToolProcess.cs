using System.Collections.Concurrent;
using System.Diagnostics;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// A C tool of tests/tools/, built once per test run and run inside a namespace until disposed: SIGTERM, and whatever
/// it holds (BPF links, a bound queue) goes with the process.
/// </summary>
internal sealed class ToolProcess : IDisposable
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Built = new();

    private readonly Process _process;

    private ToolProcess(Process process, string ready)
    {
        _process = process;
        Ready = ready;
    }

    /// <summary>The tool's process (ip netns exec runs it in its own place).</summary>
    public int Pid => _process.Id;

    /// <summary>The line the tool wrote once it was ready.</summary>
    public string Ready { get; }

    /// <summary>The executable of tests/tools/<paramref name="tool"/>.c, linked with <paramref name="library"/>.</summary>
    public static string Executable(string tool, string library) => Built.GetOrAdd(tool, _ => new Lazy<string>(() =>
    {
        var output = Path.Combine(Path.GetTempPath(), $"tracer-test-{tool}-{Environment.ProcessId}");
        Shell.Check("gcc", "-O2", "-o", output, Path.Combine(RepositoryPaths.Root, "tests", "tools", $"{tool}.c"), $"-l{library}");
        return output;
    })).Value;

    /// <summary>Runs the tool in <paramref name="ns"/> and returns once its first line starts with <paramref name="ready"/>.</summary>
    public static ToolProcess Start(string tool, string library, string ns, string ready, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["netns", "exec", ns, Executable(tool, library), .. arguments])
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith(ready, StringComparison.Ordinal))
        {
            process.WaitForExit();
            var error = process.StandardError.ReadToEnd().Trim();
            process.Dispose();
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)}: {error}");
        }
        return new ToolProcess(process, line);
    }

    public void Dispose()
    {
        Shell.Run("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _process.WaitForExit();
        _process.Dispose();
    }
}
