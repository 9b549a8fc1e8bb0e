using System.Diagnostics;
using System.Text.Json;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// out/tracer running as a user would run it, inside a namespace (as on a node, where it runs in
/// the host namespace). Waits for the <c>tracing:</c> status line instead of sleeping.
/// </summary>
internal sealed class TracerProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _lines = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource<string> _status = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TracerProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdoutClosed.TrySetResult();
                return;
            }
            var line = JsonDocument.Parse(e.Data).RootElement.Clone();
            lock (_lines)
            {
                _lines.Add(line);
                Monitor.PulseAll(_lines);
            }
        };
        process.BeginOutputReadLine();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _status.TrySetException(new InvalidOperationException("tracer exited before tracing: " + Stderr));
                return;
            }
            lock (_stderr)
                _stderr.Add(e.Data);
            // tracer trace prints the status line; the daemon logs it (after a timestamp and a category)
            if (e.Data.StartsWith("tracing:", StringComparison.Ordinal) || e.Data.Contains("] tracing: ", StringComparison.Ordinal))
                _status.TrySetResult(e.Data);
            lock (_stderr)
                Monitor.PulseAll(_stderr);
        };
        process.BeginErrorReadLine();
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return string.Join('\n', _stderr);
        }
    }

    /// <summary>Starts <c>tracer ARGS</c> in network namespace <paramref name="ns"/> and waits until it traces.</summary>
    public static TracerProcess StartTracing(string ns, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["netns", "exec", ns, RepositoryPaths.TracerExecutable, .. arguments])
            start.ArgumentList.Add(argument);
        var tracer = new TracerProcess(Process.Start(start)!);
        if (!tracer._status.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            tracer.Dispose();
            throw new TimeoutException("tracer printed no 'tracing:' line in 30 s: " + tracer.Stderr);
        }
        return tracer;
    }

    /// <summary>Ids of the BPF programs this process holds, from its fds (prog and link fds name them).</summary>
    public IReadOnlySet<int> BpfProgramIds() => Directory.EnumerateFiles($"/proc/{_process.Id}/fdinfo")
        .SelectMany(file =>
        {
            try
            {
                return File.ReadLines(file).Where(l => l.StartsWith("prog_id:", StringComparison.Ordinal)).ToList();
            }
            catch (IOException)
            {
                return []; // the fd closed while we looked
            }
        })
        .Select(l => int.Parse(l["prog_id:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture))
        .ToHashSet();

    /// <summary>The BPF netfilter links (sentinels) this process holds now.</summary>
    public int NetfilterLinks() => Directory.EnumerateFiles($"/proc/{_process.Id}/fdinfo").Count(file =>
    {
        try
        {
            return File.ReadLines(file).Any(l => l.StartsWith("link_type:", StringComparison.Ordinal) && l.EndsWith("netfilter", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false; // the fd closed while we looked
        }
    });

    /// <summary>The nftables table this process marks packets with (nftables' trace), as Tracer names it.</summary>
    public string NftablesTable => $"tracer_{_process.Id}";

    /// <summary>Whether the kernel freed these programs (it does after an RCU grace period: allow it a few seconds).</summary>
    public static bool ProgramsGone(IReadOnlySet<int> ids)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ids.Any(id => Shell.Run("bpftool", "prog", "show", "id", id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode == 0))
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(100);
        }
        return true;
    }

    /// <summary>Sends a signal (Ctrl-C is SIGINT) and waits for the process to exit.</summary>
    public int Stop(string signal = "INT")
    {
        Shell.Check("kill", $"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("tracer did not exit within 30 s of SIG" + signal);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>The status line ("tracing: …") it printed or logged once tracing.</summary>
    public string Status => _status.Task.Result;

    /// <summary>Waits until a stderr line matches (the daemon's log); false if none did within the timeout.</summary>
    public bool WaitForStderr(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_stderr)
        {
            while (!_stderr.Any(match))
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_stderr, left))
                    return _stderr.Any(match);
            }
            return true;
        }
    }

    /// <summary>The JSON lines written to stdout so far; all of them once the process has exited.</summary>
    public IReadOnlyList<JsonElement> JsonLines()
    {
        if (_process.HasExited)
            _stdoutClosed.Task.Wait(TimeSpan.FromSeconds(10));
        lock (_lines)
            return [.. _lines];
    }

    /// <summary>
    /// Waits until the lines matching <paramref name="match"/> count at least <paramref name="expected"/>
    /// drops, or the timeout passes (the caller's assertion then reports the shortfall).
    /// </summary>
    public void WaitForDrops(Func<JsonElement, bool> match, long expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lines)
        {
            while (_lines.Where(match).Sum(l => l.GetProperty("count").GetInt64()) < expected)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_lines, left))
                    return;
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
