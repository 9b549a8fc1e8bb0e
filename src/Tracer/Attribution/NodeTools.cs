using System.Diagnostics;

namespace Tracer.Attribution;

/// <summary>The node's own networking tools (iproute2, iptables-legacy), run in Tracer's namespace.</summary>
internal static class NodeTools
{
    /// <summary>The tool's standard output, or null when it failed or is not installed.</summary>
    public static string? Run(string tool, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
