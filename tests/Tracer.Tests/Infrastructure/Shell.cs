using System.Diagnostics;

namespace Tracer.Tests.Infrastructure;

internal sealed record CommandResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs real system tools (ip, nft, cc, bpftool) the way an operator would.</summary>
internal static class Shell
{
    public static CommandResult Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish in 2 minutes");
        }
        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Runs out/tracer as an operator without privileges would, with these environment variables (NAME=value)
    /// added: as root, it becomes user nobody without capabilities; any other user already is such an operator.
    /// </summary>
    public static CommandResult RunTracerUnprivileged(string[] environment, params string[] arguments)
    {
        string[] command = [.. Environment.IsPrivilegedProcess ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"] : (string[])[],
                            .. environment.Length == 0 ? [] : (string[])["env", .. environment], RepositoryPaths.TracerExecutable, .. arguments];
        return Run(command[0], command[1..]);
    }

    /// <summary>Runs and requires success; the failure message carries the tool's own words.</summary>
    public static string Check(string file, params string[] arguments)
    {
        var result = Run(file, arguments);
        if (result.ExitCode != 0)
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', arguments)} exited {result.ExitCode}: {result.Stderr.Trim()} {result.Stdout.Trim()}");
        return result.Stdout;
    }
}

/// <summary>Where the repository and the built executable are.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>out/tracer as ./build.sh publishes it (override with TRACER_EXE).</summary>
    public static string TracerExecutable
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("TRACER_EXE") ?? Path.Combine(Root, "out", "tracer");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run ./build.sh first");
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Tracer.sln")))
                return directory.FullName;
        }
        throw new DirectoryNotFoundException("Tracer.sln not found above " + AppContext.BaseDirectory);
    }
}
