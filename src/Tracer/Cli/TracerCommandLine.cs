using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tracer.Doctor;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Native;
using Tracer.Sessions;

namespace Tracer.Cli;

/// <summary>The command line: <c>tracer trace</c>, <c>daemon</c>, <c>session</c>, <c>doctor</c>. Documented in the README.</summary>
internal static class TracerCommandLine
{
    private static readonly Option<bool> Verbose = Flag("--verbose", "Log libbpf and Tracer internals to stderr.", recursive: true, alias: "-v");

    /// <summary>The whole command tree (the tests walk it to feed every option bad values).</summary>
    internal static RootCommand Build()
    {
        var root = new RootCommand("Tracer: finds which packets bound for local pods the kernel drops, where, and why.")
        {
            TraceCommand(),
            DaemonCommand(),
            SessionCommands(),
            DiagnoseCommand(),
            DoctorCommand(),
        };
        root.Options.Add(Verbose);
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var parse = Build().Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"tracer: {UsageError(parse)}. See '{string.Join(' ', CommandPath(parse).Reverse())} --help'.");
            return ExitCodes.Usage;
        }

        // Signals are handled here, not by System.CommandLine, so cleanup is never cut short.
        using var cancellation = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Cancel);
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, cancellation.Token)
            .ConfigureAwait(false);

        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;
            cancellation.Cancel();
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        for (var result = parse.CommandResult; result is not null; result = result.Parent as CommandResult)
            yield return result.Command is RootCommand ? "tracer" : result.Command.Name;
    }

    /// <summary>
    /// What is wrong, in one line: a token nothing took is named first (with the command or option it is
    /// probably a typo of), not the "required command" that follows from it.
    /// </summary>
    private static string UsageError(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.UnmatchedTokens.FirstOrDefault() is { } token)
        {
            var options = command.Options.Concat(AncestorOptions(parse)).ToList();
            // A flag takes true or false after it, nothing else: what follows is left over.
            var position = parse.Tokens.ToList().FindIndex(t => t.Value == token);
            if (position > 0 && options.FirstOrDefault(o => o.ValueType == typeof(bool) && o.Aliases.Prepend(o.Name).Contains(parse.Tokens[position - 1].Value)) is { } flag)
                return $"{flag.Name} takes no value ({ArgumentParsers.Quote(token)} is neither true nor false)";
            if (token.StartsWith('-'))
            {
                var names = options.SelectMany(o => o.Aliases.Prepend(o.Name));
                return $"unknown option {ArgumentParsers.Quote(token)}{ArgumentParsers.DidYouMean(token, names)}";
            }
            return command.Subcommands.Count > 0
                ? $"unknown command {ArgumentParsers.Quote(token)}{ArgumentParsers.DidYouMean(token, command.Subcommands.Select(c => c.Name))}"
                : $"unexpected argument {ArgumentParsers.Quote(token)}";
        }
        // A group's "required command" error only when nothing more telling is wrong.
        var errors = parse.Errors.Where(e => e.SymbolResult is not CommandResult { Command.Subcommands.Count: > 0 }).Select(e => e.Message.TrimEnd('.')).Distinct().ToList();
        return errors.Count > 0 ? string.Join("; ", errors)
            : $"'{string.Join(' ', CommandPath(parse).Reverse())}' needs a command: {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
    }

    private static IEnumerable<Option> AncestorOptions(ParseResult parse)
    {
        for (var result = parse.CommandResult.Parent as CommandResult; result is not null; result = result.Parent as CommandResult)
        {
            foreach (var option in result.Command.Options.Where(o => o.Recursive))
                yield return option;
        }
    }

    /// <summary>Parses an option's text; null and an error sentence when it is malformed.</summary>
    private delegate T ValueParser<T>(string text, out string? error);

    /// <summary>
    /// An option that takes one value, read by one of <see cref="ArgumentParsers"/>;
    /// <paramref name="helpName"/> says what kind of value it is, in --help and to the tests that feed it bad ones.
    /// </summary>
    private static Option<T> Value<T>(string name, string helpName, string description, ValueParser<T> parse) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result =>
        {
            var value = default(T)!;
            foreach (var token in result.Tokens)
            {
                value = parse(token.Value, out var error);
                if (error is not null)
                    result.AddError($"{name} {error}");
            }
            return value;
        },
    };

    private static Option<bool> Flag(string name, string description, bool recursive = false, string? alias = null)
    {
        var option = new Option<bool>(name) { Description = description, Recursive = recursive };
        if (alias is not null)
            option.Aliases.Add(alias);
        return option;
    }

    /// <summary>An option that takes one of a few words; the error names the option and the words.</summary>
    private static Option<string> Choice(string name, string description, params string[] choices)
    {
        var option = Value<string>(name, string.Join('|', choices), description, (string text, out string? error) => ArgumentParsers.ParseChoice(text, choices, out error)!);
        option.DefaultValueFactory = _ => choices[0];
        return option;
    }

    private static Command TraceCommand()
    {
        var ip = new Option<IPNetwork[]>("--ip")
        {
            Description = "Also watch this address or CIDR (repeatable). Local pods found in the routing table are always watched.",
            HelpName = "ADDR|CIDR",
            CustomParser = result =>
            {
                var networks = new List<IPNetwork>();
                foreach (var token in result.Tokens)
                {
                    if (ArgumentParsers.ParseNetwork(token.Value, out var error) is { } network)
                        networks.Add(network);
                    else
                        result.AddError($"--ip {error}");
                }
                return [.. networks];
            },
            AllowMultipleArgumentsPerToken = false,
        };
        var all = Flag("--all", "Report every drop on the node, not only those of watched addresses.");
        var duration = DurationOption("Stop after this long (30s, 5m, 1h). Default: until Ctrl-C.");
        var output = Choice("--output", "table: live view in a terminal (plain lines otherwise); json: one object per line.", "table", "json");
        output.Aliases.Add("-o");
        var stack = Flag("--stack", "Record the kernel stack of sampled drops.");
        var arm = Choice("--arm", "on-demand: nftables trace, sentinels and verdict observers only at hook points where netfilter drops are not yet explained, " +
                                  "for as long as they are (delivered packets pay nothing); always: all of them from the start, for every watched address.",
                         "on-demand", "always");
        var (otlpEndpoint, otlpProtocol) = OtlpOptions("Export drop episodes (spans) and drop metrics");

        var command = new Command("trace", "Trace packet drops of local pods (and --ip addresses) until Ctrl-C or --duration.")
        {
            ip, all, duration, output, stack, arm, otlpEndpoint, otlpProtocol,
        };
        command.SetAction((parse, token) => Run(parse, logger => new TraceCommand(logger).RunAsync(
            new TraceOptions(parse.GetValue(ip) ?? [], parse.GetValue(all), parse.GetValue(duration), parse.GetValue(stack),
                                     parse.GetValue(arm) == "always" ? Attribution.Arming.Always : Attribution.Arming.OnDemand),
            parse.GetValue(output) == "json",
            Telemetry.OtlpTarget.From(parse.GetValue(otlpEndpoint), parse.GetValue(otlpProtocol)),
            token)));
        return command;
    }

    /// <summary>Exactly one of --pod and --ip.</summary>
    private static void RequirePodOrIp<TAddress>(Command command, Option<string?> pod, Option<TAddress> ip) =>
        command.Validators.Add(result =>
        {
            // Given or not, not their values: a value that failed to parse has its own error already.
            if ((result.GetResult(pod) is null) == (result.GetResult(ip) is null))
                result.AddError("Name the pod with --pod NAMESPACE/NAME, or give --ip ADDR (one of them)");
        });

    private static Option<string?> PodOption(string description) =>
        Value<string?>("--pod", "NAMESPACE/NAME", description, (string text, out string? error) => ArgumentParsers.ParsePod(text, out error) is null ? null : text);

    private static (Option<string?> Endpoint, Option<string?> Protocol) OtlpOptions(string what) =>
    (
        Value<string?>("--otlp-endpoint", "URL", $"{what} over OTLP to this collector, Jaeger or Tempo, e.g. http://jaeger:4317. Default: OTEL_EXPORTER_OTLP_ENDPOINT; none: no export.",
                       Telemetry.OtlpTarget.ParseEndpointSetting),
        Value<string?>("--otlp-protocol", string.Join('|', Telemetry.OtlpTarget.Protocols), "grpc (port 4317) or http/protobuf (port 4318). Default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.",
                       (string text, out string? error) => ArgumentParsers.ParseChoice(text, Telemetry.OtlpTarget.Protocols, out error))
    );

    private static Option<TimeSpan?> DurationOption(string description) =>
        Value<TimeSpan?>("--duration", "DURATION", description, (string text, out string? error) => ArgumentParsers.ParseDuration(text, out error));

    private static Command DaemonCommand()
    {
        // The values are checked with the file's and the variables' (DaemonOptions.Read); only --watch may be repeated.
        var settings = Daemon.DaemonOptions.Settings.Select(s => (Option: s.Key == nameof(Daemon.DaemonOptions.Watch)
            ? new Option<string[]>(s.Switch) { Description = s.Description, HelpName = s.HelpName, AllowMultipleArgumentsPerToken = false }
            : (Option)new Option<string>(s.Switch) { Description = s.Description, HelpName = s.HelpName }, Setting: s)).ToList();
        var settingsFile = Value<string?>("--settings", "FILE", $"The settings file (JSON, as appsettings.json). Default: {Daemon.DaemonHost.SettingsFile}, if it exists.",
                                          ArgumentParsers.ParseExistingFile);
        var command = new Command("daemon", $"Trace the node's pods continuously and export over OTLP; serve on-demand sessions. Settings: {Daemon.DaemonHost.SettingsFile}, TRACER_* variables, these options.");
        foreach (var (option, _) in settings)
            command.Options.Add(option);
        command.Options.Add(settingsFile);
        command.SetAction((parse, token) => Run(parse, _ =>
        {
            var overrides = new Dictionary<string, string?>();
            foreach (var (option, setting) in settings)
            {
                var values = parse.GetResult(option)?.Tokens ?? [];
                for (var i = 0; i < values.Count; i++)
                    overrides[setting.Key == nameof(Daemon.DaemonOptions.Watch) ? $"{setting.Key}:{i}" : setting.Key] = values[i].Value;
            }
            return Daemon.DaemonHost.RunAsync(parse.GetValue(settingsFile) ?? Daemon.DaemonHost.SettingsFile, overrides, parse.GetValue(Verbose), token);
        }));
        return command;
    }

    private static Command SessionCommands()
    {
        var socket = Value<string>("--socket", "SOCKET", "The daemon's control socket.", ArgumentParsers.ParseSocketPath!);
        socket.DefaultValueFactory = _ => new Daemon.DaemonOptions().ControlSocket;
        socket.Recursive = true;
        var pod = PodOption("The pod to trace in detail, as NAMESPACE/NAME.");
        // Checked here, before asking the daemon; the daemon reads the text itself.
        var ip = Value<string?>("--ip", "ADDR|CIDR", "Or an address or CIDR to trace in detail.",
                                (string text, out string? error) => ArgumentParsers.ParseNetwork(text, out error) is null ? null : text);
        var duration = DurationOption("End the session after this long (30s, 5m). Default: until Ctrl-C.");
        var stack = Flag("--stack", "Show the kernel stack of each flow's drops.");
        var output = Choice("--output", "json: one object per line; table: plain lines.", "table", "json");
        output.Aliases.Add("-o");
        var start = new Command("start", "Trace one pod in detail (every drop sampled, kernel stacks, rule tracing), streamed here and exported as its own trace.")
        {
            pod, ip, duration, stack, output,
        };
        RequirePodOrIp(start, pod, ip);
        start.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest(
            "start", parse.GetValue(pod), parse.GetValue(ip), parse.GetValue(duration)?.TotalSeconds, parse.GetValue(stack), parse.GetValue(output)!), token)));
        var list = new Command("list", "The running sessions.");
        list.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest("list"), token)));
        var id = new Argument<string>("ID")
        {
            Description = "The session, as 'tracer session list' shows it.",
            HelpName = "ID",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (ArgumentParsers.ParseSessionId(text, out var error) is null)
                    result.AddError($"ID {error}");
                return text;
            },
        };
        var stop = new Command("stop", "End a session.") { id };
        stop.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest("stop", Id: parse.GetValue(id)), token)));
        var command = new Command("session", "On-demand sessions of the node's Tracer daemon.") { start, list, stop };
        command.Options.Add(socket);
        return command;
    }

    private static Command DiagnoseCommand()
    {
        var pod = PodOption("The pod, as NAMESPACE/NAME (needs the Kubernetes API: KUBECONFIG or in-cluster, and NODE_NAME).");
        var ip = Value<IPAddress?>("--ip", "ADDR", "Or the pod's address.", ArgumentParsers.ParseAddress);
        var port = Value<int?>("--port", "PORT", "Probe this TCP port too, as a kubelet tcpSocket or httpGet probe does (default with --pod: the pod's own liveness, readiness and startup probes).",
                               (string text, out string? error) => ArgumentParsers.ParsePort(text, out error));
        var path = Value<string?>("--path", "PATH", "And GET this path on it, as an httpGet probe does (e.g. /healthz).", ArgumentParsers.ParseHttpPath);
        var from = Choice("--from", "node: probe from the node; pod: also from inside the pod to the node (the reverse path).", "node", "pod");
        var duration = DurationOption("Trace this long at least (default 10s); it goes on until the probes' drops are in.");
        var output = Choice("--output", "text for people, json for tools.", "text", "json");
        output.Aliases.Add("-o");
        var (otlpEndpoint, otlpProtocol) = OtlpOptions("Also export the verdict as a span");
        var command = new Command("diagnose", "Investigate why a pod of this node is unreachable: probe it while tracing its packets, check what a person would check, and say who drops them. Exit 0: reachable; 4: dropped, culprit named; 5: unreachable, unexplained.")
        {
            pod, ip, port, path, from, duration, output, otlpEndpoint, otlpProtocol,
        };
        RequirePodOrIp(command, pod, ip);
        command.Validators.Add(result =>
        {
            if (result.GetResult(path) is not null && result.GetResult(port) is null)
                result.AddError("--path needs --port: the port the HTTP probe goes to");
        });
        command.SetAction((parse, token) => Run(parse, logger => new Cli.DiagnoseCommand(logger).RunAsync(
            new Diagnosis.DiagnoseRequest(parse.GetValue(pod), parse.GetValue(ip), parse.GetValue(port), parse.GetValue(path),
                                          parse.GetValue(from) == "pod", parse.GetValue(duration) ?? TimeSpan.FromSeconds(10)),
            parse.GetValue(output) == "json",
            Telemetry.OtlpTarget.From(parse.GetValue(otlpEndpoint), parse.GetValue(otlpProtocol)),
            token)));
        return command;
    }

    private static Command DoctorCommand()
    {
        var json = Flag("--json", "Print the findings as one JSON object.");
        var command = new Command("doctor", "Check what this kernel lets Tracer do, by trying each program type.") { json };
        command.SetAction((parse, _) => Run(parse, _ => Task.FromResult(DoctorReport.Run(parse.GetValue(json)))));
        return command;
    }

    /// <summary>Runs a command body; every expected failure becomes one clear sentence and an exit code.</summary>
    private static async Task<int> Run(ParseResult parse, Func<ILogger, Task<int>> body)
    {
        using var loggers = LoggerFactory.Create(builder => builder
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace) // stdout is for records only
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddFilter(level => level >= (parse.GetValue(Verbose) ? LogLevel.Debug : LogLevel.Warning)));
        var logger = loggers.CreateLogger("tracer");
        LibbpfLog.Logger = logger;
        try
        {
            return await body(logger).ConfigureAwait(false);
        }
        catch (UserError e)
        {
            Console.Error.WriteLine($"tracer: {e.Message} {e.Remedy}");
            return e.ExitCode;
        }
        catch (DllNotFoundException e) when (e.Message.Contains("libbpf", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("tracer: libbpf.so.1 is not installed.");
            Console.Error.WriteLine("  Install it (Debian/Ubuntu: apt-get install libbpf1) and run again.");
            return ExitCodes.MissingPrivilegeOrFeature;
        }
        catch (NativeException e)
        {
            Console.Error.WriteLine($"tracer: {e.Message}");
            foreach (var line in e.LibbpfLog.TakeLast(parse.GetValue(Verbose) ? 200 : 5))
                Console.Error.WriteLine($"  libbpf: {line}");
            Console.Error.WriteLine(e.IsPermissionDenied
                ? $"  The kernel refused: run as root with the capabilities in {UserError.PermissionsSection}; 'tracer doctor' shows what this process has."
                : "  See 'tracer doctor' for what this kernel supports; --verbose shows libbpf's full log.");
            return e.IsPermissionDenied ? ExitCodes.MissingPrivilegeOrFeature : ExitCodes.Failure;
        }
        catch (Exception e) when (!parse.GetValue(Verbose))
        {
            Console.Error.WriteLine($"tracer: unexpected error: {e.Message}");
            Console.Error.WriteLine("  Run again with --verbose for details, and report it if it persists.");
            return ExitCodes.Failure;
        }
    }
}
