using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tracer.Doctor;
using Tracer.Native;

namespace Tracer.Cli;

/// <summary>The command line: <c>tracer trace</c>, <c>daemon</c>, <c>session</c>, <c>doctor</c>. Documented in the README.</summary>
internal static class TracerCommandLine
{
    private static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Log libbpf and Tracer internals to stderr.",
        Recursive = true,
    };

    public static async Task<int> RunAsync(string[] args)
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

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
                Console.Error.WriteLine($"tracer: {error.Message}");
            Console.Error.WriteLine($"See '{string.Join(' ', CommandPath(parse).Reverse())} --help'.");
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

    private static Command TraceCommand()
    {
        var ip = new Option<IPNetwork[]>("--ip")
        {
            Description = "Also watch this address or CIDR (repeatable). Local pods found in the routing table are always watched.",
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
        var all = new Option<bool>("--all") { Description = "Report every drop on the node, not only those of watched addresses." };
        var duration = DurationOption("Stop after this long (30s, 5m, 1h). Default: until Ctrl-C.");
        var output = new Option<string>("--output", "-o")
        {
            Description = "table: live view in a terminal (plain lines otherwise); json: one object per line.",
            DefaultValueFactory = _ => "table",
        };
        output.AcceptOnlyFromAmong("table", "json");
        var stack = new Option<bool>("--stack") { Description = "Record the kernel stack of sampled drops." };
        var arm = new Option<string>("--arm")
        {
            Description = "on-demand: nftables trace, sentinels and verdict observers only at hook points where netfilter drops are not yet explained, " +
                          "for as long as they are (delivered packets pay nothing); always: all of them from the start, for every watched address.",
            DefaultValueFactory = _ => "on-demand",
        };
        arm.AcceptOnlyFromAmong("on-demand", "always");
        var (otlpEndpoint, otlpProtocol) = OtlpOptions("Export drop episodes (spans) and drop metrics");

        var command = new Command("trace", "Trace packet drops of local pods (and --ip addresses) until Ctrl-C or --duration.")
        {
            ip, all, duration, output, stack, arm, otlpEndpoint, otlpProtocol,
        };
        command.SetAction((parse, token) => Run(parse, logger => new TraceCommand(logger).RunAsync(
            new Tracing.TraceOptions(parse.GetValue(ip) ?? [], parse.GetValue(all), parse.GetValue(duration), parse.GetValue(stack),
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
                result.AddError("Name the pod with --pod NAMESPACE/NAME, or give --ip ADDR (one of them).");
        });

    private static (Option<Uri?> Endpoint, Option<string?> Protocol) OtlpOptions(string what)
    {
        var endpoint = new Option<Uri?>("--otlp-endpoint")
        {
            Description = $"{what} over OTLP to this collector, Jaeger or Tempo, e.g. http://jaeger:4317. Default: OTEL_EXPORTER_OTLP_ENDPOINT; none: no export.",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (Telemetry.OtlpTarget.ParseEndpoint(text) is { } uri)
                    return uri;
                result.AddError($"--otlp-endpoint '{text}' is not an http:// or https:// URL");
                return null;
            },
        };
        var protocol = new Option<string?>("--otlp-protocol")
        {
            Description = "grpc (port 4317) or http/protobuf (port 4318). Default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.",
        };
        protocol.AcceptOnlyFromAmong("grpc", "http/protobuf");
        return (endpoint, protocol);
    }

    private static Option<TimeSpan?> DurationOption(string description) => new("--duration")
    {
        Description = description,
        CustomParser = result =>
        {
            var value = ArgumentParsers.ParseDuration(result.Tokens.Single().Value, out var error);
            if (error is not null)
                result.AddError($"--duration {error}");
            return value;
        },
    };

    private static Command DaemonCommand()
    {
        var descriptions = new Dictionary<string, string>
        {
            ["--node-name"] = "This node's name (default: NODE_NAME): the pods with this spec.nodeName are watched.",
            ["--kubernetes"] = "auto: pod names from the Kubernetes API when configured (in-cluster or a kubeconfig), else routes; off: routes only.",
            ["--kubeconfig"] = "Kubeconfig file, outside a cluster (default: KUBECONFIG, then ~/.kube/config).",
            ["--control-socket"] = "Unix socket for 'tracer session' (default /run/tracer/tracer.sock; root only).",
            ["--health-port"] = "HTTP port of /healthz and /readyz (default 9487; 0: none).",
            ["--interval"] = "How often counts are drained and exported (default 00:00:01).",
            ["--otlp-endpoint"] = "OTLP collector, Jaeger or Tempo (default: OTEL_EXPORTER_OTLP_ENDPOINT; none: no export).",
            ["--otlp-protocol"] = "grpc or http/protobuf (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc).",
            ["--log-format"] = "simple: a line per message; json: a JSON object per message with its fields (default simple; the journal's under systemd).",
        };
        var settings = Daemon.DaemonOptions.Switches.Select(s => (Option: new Option<string>(s.Key) { Description = descriptions[s.Key] }, Key: s.Value)).ToList();
        var watch = new Option<string[]>("--watch") { Description = "Also watch this address or CIDR (repeatable).", AllowMultipleArgumentsPerToken = false };
        var settingsFile = new Option<string>("--settings")
        {
            Description = $"The settings file (JSON, as appsettings.json). Default: {Daemon.DaemonHost.SettingsFile}, if it exists.",
            DefaultValueFactory = _ => Daemon.DaemonHost.SettingsFile,
        };
        var command = new Command("daemon", $"Trace the node's pods continuously and export over OTLP; serve on-demand sessions. Settings: {Daemon.DaemonHost.SettingsFile}, TRACER_* variables, these options.");
        foreach (var (option, _) in settings)
            command.Options.Add(option);
        command.Options.Add(watch);
        command.Options.Add(settingsFile);
        command.SetAction((parse, token) => Run(parse, _ =>
        {
            Cli.TraceCommand.Preflight();
            var overrides = new Dictionary<string, string?>();
            foreach (var (option, key) in settings)
            {
                if (parse.GetValue(option) is { } value)
                    overrides[key] = value;
            }
            var watched = parse.GetValue(watch) ?? [];
            for (var i = 0; i < watched.Length; i++)
                overrides[$"Watch:{i}"] = watched[i];
            return Daemon.DaemonHost.RunAsync(parse.GetValue(settingsFile)!, overrides, parse.GetValue(Verbose), token);
        }));
        return command;
    }

    private static Command SessionCommands()
    {
        var socket = new Option<string>("--socket")
        {
            Description = "The daemon's control socket.",
            DefaultValueFactory = _ => new Daemon.DaemonOptions().ControlSocket,
            Recursive = true,
        };
        var pod = new Option<string?>("--pod") { Description = "The pod to trace in detail, as NAMESPACE/NAME." };
        var ip = new Option<string?>("--ip")
        {
            Description = "Or an address or CIDR to trace in detail.",
            CustomParser = result => // checked here, before asking the daemon; the daemon reads the text itself
            {
                var text = result.Tokens.Single().Value;
                if (ArgumentParsers.ParseNetwork(text, out var error) is null)
                    result.AddError($"--ip {error}");
                return text;
            },
        };
        var duration = DurationOption("End the session after this long (30s, 5m). Default: until Ctrl-C.");
        var stack = new Option<bool>("--stack") { Description = "Show the kernel stack of each flow's drops." };
        var output = new Option<string>("--output", "-o") { Description = "json: one object per line; table: plain lines.", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var start = new Command("start", "Trace one pod in detail (every drop sampled, kernel stacks, rule tracing), streamed here and exported as its own trace.")
        {
            pod, ip, duration, stack, output,
        };
        RequirePodOrIp(start, pod, ip);
        start.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest(
            "start", parse.GetValue(pod), parse.GetValue(ip), parse.GetValue(duration)?.TotalSeconds, parse.GetValue(stack), parse.GetValue(output)!), token)));
        var list = new Command("list", "The running sessions.");
        list.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest("list"), token)));
        var id = new Argument<string>("ID") { Description = "The session, as 'tracer session list' shows it." };
        var stop = new Command("stop", "End a session.") { id };
        stop.SetAction((parse, token) => Run(parse, _ => SessionCommand.RunAsync(parse.GetValue(socket)!, new Daemon.ControlRequest("stop", Id: parse.GetValue(id)), token)));
        var command = new Command("session", "On-demand sessions of the node's Tracer daemon.") { start, list, stop };
        command.Options.Add(socket);
        return command;
    }

    private static Command DiagnoseCommand()
    {
        var pod = new Option<string?>("--pod") { Description = "The pod, as NAMESPACE/NAME (needs the Kubernetes API: KUBECONFIG or in-cluster, and NODE_NAME)." };
        var ip = new Option<System.Net.IPAddress?>("--ip")
        {
            Description = "Or the pod's address.",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (ArgumentParsers.ParseNetwork(text, out var error) is { PrefixLength: 32 or 128 } network)
                    return network.BaseAddress;
                result.AddError($"--ip {error ?? $"'{text}' is a prefix, not one address"}");
                return null;
            },
        };
        var port = new Option<int?>("--port")
        {
            Description = "Probe this TCP port too, as a kubelet tcpSocket or httpGet probe does.",
            CustomParser = result =>
            {
                var value = ArgumentParsers.ParsePort(result.Tokens.Single().Value, out var error);
                if (error is not null)
                    result.AddError($"--port {error}");
                return value;
            },
        };
        var path = new Option<string?>("--path") { Description = "And GET this path on it, as an httpGet probe does (e.g. /healthz)." };
        var from = new Option<string>("--from") { Description = "node: probe from the node; pod: also from inside the pod to the node (the reverse path).", DefaultValueFactory = _ => "node" };
        from.AcceptOnlyFromAmong("node", "pod");
        var duration = DurationOption("Trace this long at least (default 10s); it goes on until the probes' drops are in.");
        var output = new Option<string>("--output", "-o") { Description = "text for people, json for tools.", DefaultValueFactory = _ => "text" };
        output.AcceptOnlyFromAmong("text", "json");
        var (otlpEndpoint, otlpProtocol) = OtlpOptions("Also export the verdict as a span");
        var command = new Command("diagnose", "Investigate why a pod of this node is unreachable: probe it while tracing its packets, check what a person would check, and say who drops them. Exit 0: reachable; 4: dropped, culprit named; 5: unreachable, unexplained.")
        {
            pod, ip, port, path, from, duration, output, otlpEndpoint, otlpProtocol,
        };
        RequirePodOrIp(command, pod, ip);
        command.Validators.Add(result =>
        {
            if (result.GetResult(path) is not null && result.GetResult(port) is null)
                result.AddError("--path needs --port: the port the HTTP probe goes to.");
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
        var json = new Option<bool>("--json") { Description = "Print the findings as one JSON object." };
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
            Console.Error.WriteLine($"tracer: {e.Message}");
            Console.Error.WriteLine($"  {e.Remedy}");
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
                ? "  The kernel refused: run as root, or with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN; see 'tracer doctor'."
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
