using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Logging;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Telemetry;

namespace Tracer.Daemon;

/// <summary>One daemon setting: its key (settings file, TRACER_ variable), its switch, what it takes, and its parser.</summary>
/// <param name="Set">Parses the text into the options; returns what is wrong with it, or null.</param>
internal sealed record DaemonSetting(string Key, string Switch, string HelpName, string Description, Func<DaemonOptions, string, string?> Set);

/// <summary>
/// <c>tracer daemon</c>'s settings: from /etc/tracer/appsettings.json, then TRACER_* environment
/// variables (TRACER_HealthPort=9100), then the command line (--health-port 9100). The OTLP
/// endpoint also comes from the standard OTEL_EXPORTER_OTLP_* variables. Documented in docs/daemon.md.
/// </summary>
internal sealed class DaemonOptions
{
    /// <summary>Name of this node: the pods with this spec.nodeName are watched. Default: NODE_NAME (the downward API).</summary>
    public string? NodeName { get; set; }

    /// <summary>auto: the in-cluster API or a kubeconfig when there is one, else routes; off: routes only.</summary>
    public string Kubernetes { get; set; } = "auto";

    /// <summary>on: a Warning Event on each pod whose packets are dropped (with the Kubernetes API); off: none.</summary>
    public string Events { get; set; } = "on";

    /// <summary>Kubeconfig file for running outside a cluster. Default: KUBECONFIG, else ~/.kube/config when it exists.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Additional addresses or CIDRs to watch, besides the node's pods.</summary>
    public List<IPNetwork> Watch { get; } = [];

    /// <summary>The Unix socket on-demand sessions are requested on (root only).</summary>
    public string ControlSocket { get; set; } = "/run/tracer/tracer.sock";

    /// <summary>HTTP port of /healthz, /readyz and /metrics on all addresses; 0: none.</summary>
    public int HealthPort { get; set; } = 9487;

    /// <summary>How often the kernel's counts are drained and exported.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>OTLP collector, Jaeger or Tempo; default OTEL_EXPORTER_OTLP_ENDPOINT; none: drops only go to the log.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>grpc or http/protobuf; default OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.</summary>
    public string? OtlpProtocol { get; set; }

    /// <summary>simple: one line per message; json: one JSON object per message, with its structured fields. (Under systemd: the journal's format.)</summary>
    public string LogFormat { get; set; } = "simple";

    private static readonly TimeSpan ShortestInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestInterval = TimeSpan.FromMinutes(1);

    /// <summary>Every setting; the command line's switches are made from this list.</summary>
    public static readonly DaemonSetting[] Settings =
    [
        new(nameof(NodeName), "--node-name", "NODE", "This node's name (default: NODE_NAME): the pods with this spec.nodeName are watched.",
            (o, text) => { o.NodeName = ArgumentParsers.ParseNodeName(text, out var error); return error; }),
        new(nameof(Kubernetes), "--kubernetes", "auto|off", "auto: pod names from the Kubernetes API when configured (in-cluster or a kubeconfig), else routes; off: routes only.",
            (o, text) => { o.Kubernetes = ArgumentParsers.ParseChoice(text, ["auto", "off"], out var error) ?? o.Kubernetes; return error; }),
        new(nameof(Events), "--events", "on|off", "on: a Warning Event (reason PacketsDropped) on each pod whose packets are dropped, with the Kubernetes API; off: none.",
            (o, text) => { o.Events = ArgumentParsers.ParseChoice(text, ["on", "off"], out var error) ?? o.Events; return error; }),
        new(nameof(Kubeconfig), "--kubeconfig", "FILE", "Kubeconfig file, outside a cluster (default: KUBECONFIG, then ~/.kube/config).",
            (o, text) => { o.Kubeconfig = ArgumentParsers.ParseExistingFile(text, out var error); return error; }),
        new(nameof(ControlSocket), "--control-socket", "SOCKET", "Unix socket for 'tracer session' (default /run/tracer/tracer.sock; root only).",
            (o, text) => { o.ControlSocket = ArgumentParsers.ParseSocketPath(text, out var error) ?? o.ControlSocket; return error; }),
        new(nameof(HealthPort), "--health-port", "PORT", "HTTP port of /healthz, /readyz and /metrics (default 9487; 0: none).",
            (o, text) => { o.HealthPort = ArgumentParsers.ParsePort(text, out var error, zeroMeans: "none") ?? o.HealthPort; return error; }),
        new(nameof(Interval), "--interval", "DURATION", "How often counts are drained and exported: 100ms to 1m (default 1s).",
            (o, text) => { o.Interval = ArgumentParsers.ParseDuration(text, out var error, ShortestInterval, LongestInterval) ?? o.Interval; return error; }),
        new(nameof(OtlpEndpoint), "--otlp-endpoint", "URL", "OTLP collector, Jaeger or Tempo (default: OTEL_EXPORTER_OTLP_ENDPOINT; none: no export).",
            (o, text) => { o.OtlpEndpoint = OtlpTarget.ParseEndpointSetting(text, out var error); return error; }),
        new(nameof(OtlpProtocol), "--otlp-protocol", "grpc|http/protobuf", "grpc or http/protobuf (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc).",
            (o, text) => { o.OtlpProtocol = ArgumentParsers.ParseChoice(text, OtlpTarget.Protocols, out var error); return error; }),
        new(nameof(LogFormat), "--log-format", "simple|json", "simple: a line per message; json: a JSON object per message with its fields (default simple; the journal's under systemd).",
            (o, text) => { o.LogFormat = ArgumentParsers.ParseChoice(text, ["simple", "json"], out var error) ?? o.LogFormat; return error; }),
        new(nameof(Watch), "--watch", "ADDR|CIDR", "Also watch this address or CIDR (repeatable).",
            (o, text) =>
            {
                if (ArgumentParsers.ParseNetwork(text, out var error) is { } network)
                    o.Watch.Add(network);
                return error;
            }),
    ];

    /// <summary>Where to export, validated the way <c>tracer trace</c> validates its flags.</summary>
    public OtlpTarget? Otlp() => OtlpTarget.From(OtlpEndpoint, OtlpProtocol);

    /// <summary>
    /// Reads and checks every setting before anything starts. A bad one is one sentence naming where it
    /// came from (--interval, TRACER_Interval, or Interval in the file), what is wrong and a right value.
    /// </summary>
    public static DaemonOptions Read(IConfigurationRoot configuration, string settingsFile)
    {
        var options = new DaemonOptions();
        var failures = new List<string>();
        foreach (var setting in Settings)
        {
            var section = configuration.GetSection(setting.Key);
            // A list (Watch:0, Watch:1, …), or one value where a list is expected: one entry.
            IEnumerable<IConfigurationSection> values = section.Value is null && setting.Key == nameof(Watch) ? section.GetChildren() : [section];
            foreach (var value in values.Where(v => v.Value is not null))
            {
                if (setting.Set(options, value.Value!) is { } error)
                    failures.Add($"{SourceOf(configuration, value.Path, setting, settingsFile)} {error}");
            }
        }
        failures.AddRange(UnknownKeys(configuration, settingsFile));
        if (options.NodeName is null && Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } node &&
            ArgumentParsers.ParseNodeName(node, out var nodeError) is null)
            failures.Add($"NODE_NAME {nodeError}");
        if (failures.Count == 0)
        {
            try
            {
                _ = options.Otlp(); // the OTEL_EXPORTER_OTLP_* variables, and a protocol without an endpoint
            }
            catch (UserError e)
            {
                failures.Add($"{e.Message.TrimEnd('.')}: {e.Remedy.TrimEnd('.')}");
            }
        }
        return failures.Count == 0 ? options : throw new UserError(
            $"Invalid setting: {string.Join("; ", failures)}.", "See 'tracer daemon --help' and docs/daemon.md.", ExitCodes.Usage);
    }

    /// <summary>The keys of the settings file that are no setting (a typo would otherwise be ignored).</summary>
    private static IEnumerable<string> UnknownKeys(IConfigurationRoot configuration, string settingsFile)
    {
        var known = Settings.Select(s => s.Key).Append("Logging").ToArray();
        foreach (var file in configuration.Providers.OfType<JsonConfigurationProvider>())
        {
            foreach (var key in file.GetChildKeys([], null).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
                    yield return $"{ArgumentParsers.Quote(key)} in {settingsFile} is not a setting{ArgumentParsers.DidYouMean(key, known)}";
            }
        }
        foreach (var level in configuration.GetSection("Logging:LogLevel").GetChildren())
        {
            if (!Enum.TryParse<LogLevel>(level.Value, ignoreCase: true, out _))
                yield return $"{level.Path} {ArgumentParsers.Quote(level.Value ?? "")} is not a log level (e.g. Information, Debug, Warning)";
        }
    }

    /// <summary>Where a setting's value came from, as the user would write it: the switch, the variable, or the key in the file.</summary>
    private static string SourceOf(IConfigurationRoot configuration, string path, DaemonSetting setting, string settingsFile)
    {
        foreach (var provider in configuration.Providers.Reverse())
        {
            if (!provider.TryGet(path, out _))
                continue;
            return provider switch
            {
                JsonConfigurationProvider => $"{path} in {settingsFile}:",
                EnvironmentVariablesConfigurationProvider => Environment.GetEnvironmentVariables().Keys.Cast<string>()
                    .FirstOrDefault(name => name.Equals("TRACER_" + path.Replace(":", "__", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase))
                    ?? "TRACER_" + path,
                _ => setting.Switch,
            };
        }
        return setting.Switch;
    }
}
