using System.Diagnostics;
using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Daemon;

/// <summary><c>tracer session …</c> as root runs it on the node: connected to the daemon's control socket.</summary>
internal sealed class SessionClient : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];

    private SessionClient(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Add(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Add(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private static void Add(List<string> lines, string? line)
    {
        if (line is null)
            return;
        lock (lines)
            lines.Add(line);
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return string.Join('\n', _stderr);
        }
    }

    /// <summary>The JSON records streamed so far.</summary>
    public List<JsonElement> Records()
    {
        lock (_stdout)
            return [.. _stdout.Select(l => JsonDocument.Parse(l).RootElement.Clone())];
    }

    /// <summary>Starts <c>tracer session ARGS --socket SOCKET</c> and leaves it running.</summary>
    public static SessionClient Start(string socket, params string[] arguments)
    {
        var start = new ProcessStartInfo(RepositoryPaths.TracerExecutable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["session", .. arguments, "--socket", socket])
            start.ArgumentList.Add(argument);
        return new SessionClient(Process.Start(start)!);
    }

    /// <summary>Runs <c>tracer session ARGS --socket SOCKET</c> to its end.</summary>
    public static CommandResult Run(string socket, params string[] arguments) =>
        Shell.Run(RepositoryPaths.TracerExecutable, ["session", .. arguments, "--socket", socket]);

    /// <summary>The client disappears without a word (kill -9): the daemon must notice by itself.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            Kill();
        _process.Dispose();
    }
}
