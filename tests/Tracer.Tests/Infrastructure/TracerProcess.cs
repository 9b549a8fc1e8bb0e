using System.Diagnostics;
using System.Text.Json;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// out/tracer running as a user would run it, inside a namespace (as on a node, where it runs in
/// the host namespace). Waits for a status line it prints (by default <c>tracing:</c>) instead of sleeping.
/// </summary>
internal sealed class TracerProcess : IDisposable
{
    private readonly Process _process;
    // Raw lines: trace writes one JSON document per line, diagnose one indented document.
    private readonly List<string> _stdout = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource<string> _status = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TracerProcess(Process process, Func<string, bool> isStatus)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdoutClosed.TrySetResult();
                return;
            }
            lock (_stdout)
                _stdout.Add(e.Data);
        };
        process.BeginOutputReadLine();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _status.TrySetException(new InvalidOperationException("tracer exited before its status line: " + Stderr));
                return;
            }
            lock (_stderr)
                _stderr.Add(e.Data);
            if (isStatus(e.Data))
                _status.TrySetResult(e.Data);
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
    public static TracerProcess StartTracing(string ns, params string[] arguments) =>
        // tracer trace prints the status line; the daemon logs it (after a timestamp and a category)
        Start(ns, line => line.StartsWith("tracing:", StringComparison.Ordinal) || line.Contains("] tracing: ", StringComparison.Ordinal), arguments);

    /// <summary>Starts <c>tracer ARGS</c> in network namespace <paramref name="ns"/> and waits until it prints a line that <paramref name="isStatus"/>.</summary>
    public static TracerProcess Start(string ns, Func<string, bool> isStatus, params string[] arguments) => Start(ns, isStatus, new Dictionary<string, string>(), arguments);

    /// <summary>As <see cref="StartTracing(string, string[])"/>, with these environment variables set (KUBECONFIG, NODE_NAME).</summary>
    public static TracerProcess StartTracing(string ns, IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start(ns, line => line.StartsWith("tracing:", StringComparison.Ordinal), environment, arguments);

    private static TracerProcess Start(string ns, Func<string, bool> isStatus, IReadOnlyDictionary<string, string> environment, string[] arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        // ip netns exec execs tracer: the process's id is tracer's.
        foreach (var argument in (string[])["netns", "exec", ns, RepositoryPaths.TracerExecutable, .. arguments])
            start.ArgumentList.Add(argument);
        var tracer = new TracerProcess(Process.Start(start)!, isStatus);
        if (!tracer._status.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            tracer.Dispose();
            throw new TimeoutException("tracer printed no status line in 30 s: " + tracer.Stderr);
        }
        return tracer;
    }

    /// <summary>Ids of the BPF programs this process holds, from its fds (prog and link fds name them).</summary>
    /// <summary>Sends <paramref name="signal"/> (STOP, CONT, …) to tracer.</summary>
    public void Signal(string signal) => Shell.Check("kill", $"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

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
    public string NftablesTable => $"tracer_{_process.Id}_{Tracer.Probes.NftablesTrace.PidNamespaceOf(_process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))}";

    /// <summary>Fails unless the kernel frees these programs (it does after an RCU grace period: allow it a few seconds).</summary>
    public static void WaitUntilProgramsGone(IReadOnlySet<int> ids, string context)
    {
        List<int> Loaded() => [.. ids.Where(id => Shell.Run("bpftool", "prog", "show", "id", id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode == 0)];
        Poll.Until(() => Loaded().Count == 0, TimeSpan.FromSeconds(10), () => $"programs {string.Join(',', Loaded())} still loaded {context}");
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

    /// <summary>Waits until a stderr line matches (the daemon's log); fails the test if none does within the timeout.</summary>
    public void WaitForStderr(Func<string, bool> match, TimeSpan timeout)
    {
        Poll.Until(() =>
        {
            lock (_stderr)
                return _stderr.Any(match);
        }, timeout, () => "no such line on stderr: " + Stderr);
    }

    /// <summary>Standard output so far; all of it once the process has exited.</summary>
    public string Stdout
    {
        get
        {
            if (_process.HasExited)
                _stdoutClosed.Task.Wait(TimeSpan.FromSeconds(10));
            lock (_stdout)
                return string.Join('\n', _stdout);
        }
    }

    /// <summary>The JSON lines written to stdout so far; all of them once the process has exited.</summary>
    public IReadOnlyList<JsonElement> JsonLines()
    {
        if (_process.HasExited)
            _stdoutClosed.Task.Wait(TimeSpan.FromSeconds(10));
        lock (_stdout)
            return [.. _stdout.Select(line => JsonDocument.Parse(line).RootElement.Clone())];
    }

    /// <summary>
    /// Waits until the lines matching <paramref name="match"/> count at least <paramref name="expected"/>
    /// drops; fails the test, with the count it saw, if they do not within the timeout.
    /// </summary>
    public void WaitForDrops(Func<JsonElement, bool> match, long expected, TimeSpan timeout)
    {
        long Counted() => JsonLines().Where(match).Sum(l => l.GetProperty("count").GetInt64());
        Poll.Until(() => Counted() >= expected, timeout, () => $"{Counted()} of {expected} drops reported; stderr: {Stderr}");
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
