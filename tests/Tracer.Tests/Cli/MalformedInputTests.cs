using System.CommandLine;
using Tracer.Cli;
using Tracer.Daemon;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Cli;

/// <summary>
/// Every option, argument and daemon setting of the real command tree gets a battery of malformed values;
/// each must be answered with exit 2 and one stderr line naming what was wrong — never a stack trace.
/// The tree is walked, not listed, so a new option is covered the day it is added: an option whose kind of
/// value (its help name) has no battery here fails the test until it gets one.
/// The executable runs without privileges: a value wrongly accepted then stops at the privilege check
/// (exit 3) instead of tracing.
/// </summary>
[UnitTest]
public sealed class MalformedInputTests
{
    private static readonly string VeryLong = new('7', 20_000);

    /// <summary>Malformed values per kind of value: empty, negative, overflow, wrong type, leading zeros, unicode, very long, and the kind's own traps.</summary>
    private static readonly Dictionary<string, string[]> BadValues = new()
    {
        ["ADDR|CIDR"] = ["", "-1", "99999999999999999999", "abc", "010.0.0.1", "10.1", "300.1.1.1", "١٠.٠.٠.١", VeryLong, "10.0.0.1/24", "10.0.0.0/33", "fd00::1%eth0"],
        ["ADDR"] = ["", "-1", "99999999999999999999", "abc", "010.0.0.1", "10.1", "١٠.٠.٠.١", VeryLong, "10.0.0.0/24"],
        ["DURATION"] = ["", "-5s", "0", "99999999999999999999h", "abc", "1e3", "٥s", VeryLong, "00:00:05", "5 s", "NaN"],
        ["PORT"] = ["", "-1", "65536", "99999999999999999999", "abc", "080", "٨٠", VeryLong, "80.5"],
        ["URL"] = ["", "-1", "99999999999999999999", "jaeger:4317", "ftp://jaeger:4317", "http://", "jäger", VeryLong],
        ["FILE"] = ["", "-1", "99999999999999999999", "/nonexistent/tracer.json", "é", VeryLong],
        ["SOCKET"] = ["", "-1", "relative.sock", "é", "/" + VeryLong],
        ["NAMESPACE/NAME"] = ["", "-1", "99999999999999999999", "noslash", "a/b/c", "/web-0", "Default/Web", "défaut/web", "default/" + VeryLong],
        ["PATH"] = ["", "-1", "healthz", "/with space", "/é", "/" + VeryLong],
        ["NODE"] = ["", "-1", "Worker_1", "wörker", "a..b", VeryLong],
        ["ID"] = ["", "-1", "s0", "s01", "99999999999999999999", "é", VeryLong],
    };

    /// <summary>A right value of each kind, for the "repeated" case and for a command's other required options.</summary>
    private static readonly Dictionary<string, string> GoodValue = new()
    {
        ["ADDR|CIDR"] = "10.0.0.5",
        ["ADDR"] = "10.0.0.5",
        ["DURATION"] = "30s",
        ["PORT"] = "8080",
        ["URL"] = "http://127.0.0.1:4317",
        ["FILE"] = "/dev/null",
        ["SOCKET"] = "/run/tracer-test/none.sock",
        ["NAMESPACE/NAME"] = "default/web-0",
        ["PATH"] = "/healthz",
        ["NODE"] = "worker-1",
        ["ID"] = "s1",
    };

    /// <summary>What a command needs besides the option under test, so that only that option is wrong.</summary>
    private static readonly Dictionary<string, string[]> Context = new()
    {
        ["diagnose"] = ["--ip", "10.0.0.5"],
        ["session start"] = ["--ip", "10.0.0.5"],
        ["session stop"] = ["s1"],
    };

    public static TheoryData<string, string> Options()
    {
        var data = new TheoryData<string, string>();
        foreach (var (path, command) in Commands(TracerCommandLine.Build(), ""))
        {
            foreach (var option in command.Options.Where(o => o is not System.CommandLine.Help.HelpOption and not VersionOption))
                data.Add(path, option.Name);
            foreach (var argument in command.Arguments)
                data.Add(path, argument.Name);
        }
        return data;
    }

    private static IEnumerable<(string Path, Command Command)> Commands(Command command, string path)
    {
        yield return (path, command);
        foreach (var sub in command.Subcommands)
        {
            foreach (var nested in Commands(sub, (path + " " + sub.Name).Trim()))
                yield return nested;
        }
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void EveryMalformedValueIsOneSentenceAndExitTwo(string commandPath, string name)
    {
        var command = Commands(TracerCommandLine.Build(), "").Single(c => c.Path == commandPath).Command;
        var path = commandPath.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var context = Context.GetValueOrDefault(commandPath, []);
        var runs = new List<Run>();
        if (command.Arguments.FirstOrDefault(a => a.Name == name) is { } argument)
        {
            foreach (var bad in BadValues[Kind(argument.HelpName, name)])
                runs.Add(new([.. path, bad], "ID"));
        }
        else
        {
            var option = command.Options.Single(o => o.Name == name);
            // The context names the target; an option that is itself a target stands alone.
            var others = name is "--ip" or "--pod" ? [] : context;
            if (option.ValueType == typeof(bool))
            {
                foreach (var bad in (string[])["maybe", "", "-1", "1", "é", VeryLong])
                    runs.Add(new([.. path, .. others, name, bad], name));
            }
            else
            {
                var kind = Kind(option.HelpName, name);
                foreach (var bad in BadValues[kind])
                    runs.Add(new([.. path, .. others, name, bad], name));
                // Repeated: a second value where one is taken, or a bad one beside a good one where several are.
                var good = GoodValue.GetValueOrDefault(kind) ?? kind.Split('|')[0];
                runs.Add(option.Arity.MaximumNumberOfValues == 1
                    ? new([.. path, .. others, name, good, name, good], name)
                    : new([.. path, .. others, name, good, name, BadValues[kind][2]], name));
            }
        }
        var failures = CheckAll(runs);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>A kind with a battery, or one of a few words (table|json): its battery is made from the words.</summary>
    private static string Kind(string? helpName, string name)
    {
        Assert.True(helpName is not null, $"{name} has no help name: give it one of {string.Join(", ", BadValues.Keys)} or a|b for a choice");
        if (!BadValues.ContainsKey(helpName) && helpName.Split('|') is { Length: > 1 } words && words.All(w => w == w.ToLowerInvariant()))
            BadValues[helpName] = ["", "-1", "99999999999999999999", words[0].ToUpperInvariant(), words[0] + "x", "é", VeryLong];
        Assert.True(BadValues.ContainsKey(helpName), $"{name} takes {helpName}, which has no battery of bad values here: add one");
        return helpName;
    }

    public static TheoryData<string> DaemonSettings() => [.. DaemonOptions.Settings.Select(s => s.Key)];

    [Theory]
    [MemberData(nameof(DaemonSettings))]
    public void EveryDaemonSettingIsCheckedFromTheFileAndTheEnvironment(string key)
    {
        var kind = Kind(DaemonOptions.Settings.Single(s => s.Key == key).HelpName, key);
        var directory = Directory.CreateTempSubdirectory("tracer-settings-");
        try
        {
            // Readable by the unprivileged user the daemon runs as here.
            File.SetUnixFileMode(directory.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                                     UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            var runs = new List<Run>();
            foreach (var (bad, index) in BadValues[kind].Select((bad, index) => (bad, index)))
            {
                var file = Path.Combine(directory.FullName, $"appsettings-{index}.json");
                File.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { [key] = bad }));
                runs.Add(new(["daemon", "--settings", file], $"{key} in {file}"));
                runs.Add(new(["daemon"], $"TRACER_{key}", [$"TRACER_{key}={bad}"]));
            }
            var failures = CheckAll(runs);
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("daemon", "NODE_NAME", "Worker_1")]
    [InlineData("daemon", "OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4317")]
    [InlineData("daemon", "OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]
    [InlineData("trace", "OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4317")]
    [InlineData("trace", "OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]
    [InlineData("diagnose --ip 10.0.0.5", "OTEL_EXPORTER_OTLP_ENDPOINT", "-1")]
    public void MalformedEnvironmentVariablesAreNamed(string command, string variable, string value)
    {
        string[] environment = variable == "OTEL_EXPORTER_OTLP_PROTOCOL"
            ? [$"{variable}={value}", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"] // a protocol is read only with an endpoint
            : [$"{variable}={value}"];
        var failures = Check(command.Split(' '), variable, environment).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("bogus", "unknown command 'bogus'")]
    [InlineData("trcae", "(did you mean trace?)")]
    [InlineData("diag", "(did you mean diagnose?)")]
    [InlineData("session strat", "(did you mean start?)")]
    [InlineData("trace --durtion 5s", "(did you mean --duration?)")]
    [InlineData("diagnose --ip 10.0.0.5 --prot 80", "(did you mean --port?)")]
    [InlineData("daemon --helth-port 1", "(did you mean --health-port?)")]
    [InlineData("", "needs a command: trace, daemon, session, diagnose, doctor")]
    public void UnknownCommandsAndOptionsGetADidYouMean(string arguments, string expected)
    {
        var failures = Check(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries), expected).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>tracer's arguments, the word its message must name, and environment variables (NAME=value) it runs with.</summary>
    private sealed record Run(string[] Arguments, string Named, string[]? Environment = null);

    /// <summary>
    /// <see cref="Check"/> for each run, side by side: hundreds of tracer processes, one after another, would make
    /// this class most of the unit tests' time. Failures come in the order of the runs.
    /// </summary>
    private static List<string> CheckAll(IEnumerable<Run> runs) =>
        [.. runs.AsParallel().AsOrdered().SelectMany(run => Check(run.Arguments, run.Named, run.Environment))];

    /// <summary>Runs tracer unprivileged; returns what is wrong with its answer (nothing when it is exit 2 and one line naming <paramref name="named"/>).</summary>
    private static IEnumerable<string> Check(string[] arguments, string named, string[]? environment = null)
    {
        var result = Shell.RunTracerUnprivileged(environment ?? [], arguments);
        var shown = string.Join(' ', (environment ?? []).Concat(arguments).Select(ArgumentParsers.Quote));
        var lines = result.Stderr.TrimEnd('\n').Split('\n');
        if (result.ExitCode != ExitCodes.Usage)
            yield return $"{shown}: exit {result.ExitCode}, not {ExitCodes.Usage}: {result.Stderr.Trim()}";
        if (lines.Length != 1)
            yield return $"{shown}: {lines.Length} lines on stderr, not one: {result.Stderr.Trim()}";
        if (!result.Stderr.Contains(named, StringComparison.Ordinal))
            yield return $"{shown}: the message does not name {named}: {result.Stderr.Trim()}";
        if (result.Stderr.Contains("   at ", StringComparison.Ordinal) || result.Stderr.Contains("Unhandled exception", StringComparison.Ordinal) ||
            result.Stderr.Contains("unexpected error", StringComparison.Ordinal))
            yield return $"{shown}: a crash: {result.Stderr.Trim()}";
        if (result.Stdout.Length > 0)
            yield return $"{shown}: wrote to stdout: {result.Stdout.Trim()}";
    }
}
