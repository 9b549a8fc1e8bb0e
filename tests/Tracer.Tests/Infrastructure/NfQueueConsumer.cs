using System.Diagnostics;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// tests/tools/nfqueue_drop, run in a namespace: binds an NFQUEUE there and answers NF_DROP for every packet, as a
/// user-space NetworkPolicy controller (kube-network-policies) denying it does; killed on Dispose.
/// </summary>
internal sealed class NfQueueConsumer : IDisposable
{
    private static readonly Lazy<string> Executable = new(() =>
    {
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tracer-test-nfqueue_drop-{Environment.ProcessId}");
        Shell.Check("gcc", "-O2", "-o", output, System.IO.Path.Combine(RepositoryPaths.Root, "tests", "tools", "nfqueue_drop.c"), "-lmnl");
        return output;
    });

    private readonly Process _process;

    private NfQueueConsumer(Process process) => _process = process;

    /// <summary>The consumer's process (ip netns exec runs it in its own place).</summary>
    public int Pid => _process.Id;

    /// <summary>The consumer's executable.</summary>
    public static string Path => Executable.Value;

    /// <summary>Binds <paramref name="queue"/> in <paramref name="ns"/>; returns once the queue is the consumer's.</summary>
    public static NfQueueConsumer Start(string ns, int queue)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["netns", "exec", ns, Executable.Value, queue.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        if (process.StandardOutput.ReadLine() != "bound")
        {
            process.WaitForExit();
            throw new InvalidOperationException($"nfqueue_drop {queue}: {process.StandardError.ReadToEnd().Trim()}");
        }
        return new NfQueueConsumer(process);
    }

    public void Dispose()
    {
        Shell.Run("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _process.WaitForExit();
        _process.Dispose();
    }
}
