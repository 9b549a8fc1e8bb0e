using System.Net;
using Microsoft.Extensions.Options;
using Tracer.Cli;
using Tracer.Telemetry;

namespace Tracer.Daemon;

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

    /// <summary>Kubeconfig file for running outside a cluster. Default: KUBECONFIG, else ~/.kube/config when it exists.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Additional addresses or CIDRs to watch, besides the node's pods.</summary>
    public List<string> Watch { get; set; } = [];

    /// <summary>The Unix socket on-demand sessions are requested on (root only).</summary>
    public string ControlSocket { get; set; } = "/run/tracer/tracer.sock";

    /// <summary>HTTP port of /healthz and /readyz on all addresses; 0: none.</summary>
    public int HealthPort { get; set; } = 9487;

    /// <summary>How often the kernel's counts are drained and exported.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>OTLP collector, Jaeger or Tempo; default OTEL_EXPORTER_OTLP_ENDPOINT; none: drops only go to the log.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>grpc or http/protobuf; default OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.</summary>
    public string? OtlpProtocol { get; set; }

    /// <summary>simple: one line per message; json: one JSON object per message, with its structured fields. (Under systemd: the journal's format.)</summary>
    public string LogFormat { get; set; } = "simple";

    /// <summary>Command-line switches and the settings they set.</summary>
    public static readonly Dictionary<string, string> Switches = new()
    {
        ["--node-name"] = nameof(NodeName),
        ["--kubernetes"] = nameof(Kubernetes),
        ["--kubeconfig"] = nameof(Kubeconfig),
        ["--control-socket"] = nameof(ControlSocket),
        ["--health-port"] = nameof(HealthPort),
        ["--interval"] = nameof(Interval),
        ["--otlp-endpoint"] = nameof(OtlpEndpoint),
        ["--otlp-protocol"] = nameof(OtlpProtocol),
        ["--log-format"] = nameof(LogFormat),
    };

    public IReadOnlyList<IPNetwork> WatchNetworks() =>
        [.. Watch.Select(w => ArgumentParsers.ParseNetwork(w, out _)).OfType<IPNetwork>()];

    /// <summary>Where to export, validated the way <c>tracer trace</c> validates its flags.</summary>
    public OtlpTarget? Otlp() => OtlpEndpoint == "none"
        ? null
        : OtlpTarget.From(OtlpEndpoint is null ? null : OtlpTarget.ParseEndpoint(OtlpEndpoint), OtlpProtocol);
}

/// <summary>Checks every setting at start; each failure names the setting and what it accepts.</summary>
internal sealed class DaemonOptionsValidator : IValidateOptions<DaemonOptions>
{
    public ValidateOptionsResult Validate(string? name, DaemonOptions options)
    {
        var failures = new List<string>();
        if (options.Kubernetes is not ("auto" or "off"))
            failures.Add($"Kubernetes: '{options.Kubernetes}' is not auto or off");
        if (options.Kubeconfig is { Length: > 0 } kubeconfig && !File.Exists(kubeconfig))
            failures.Add($"Kubeconfig: {kubeconfig} does not exist");
        foreach (var watch in options.Watch)
        {
            if (ArgumentParsers.ParseNetwork(watch, out var error) is null)
                failures.Add($"Watch: {error}");
        }
        if (options.HealthPort is < 0 or > 65535)
            failures.Add($"HealthPort: {options.HealthPort} is not a port (1-65535, or 0 for none)");
        if (options.Interval < TimeSpan.FromMilliseconds(100) || options.Interval > TimeSpan.FromMinutes(1))
            failures.Add($"Interval: {options.Interval} is not between 00:00:00.1 and 00:01:00");
        if (string.IsNullOrWhiteSpace(options.ControlSocket) || !Path.IsPathRooted(options.ControlSocket))
            failures.Add($"ControlSocket: '{options.ControlSocket}' is not an absolute path");
        if (options.OtlpEndpoint is { } endpoint && endpoint != "none" && OtlpTarget.ParseEndpoint(endpoint) is null)
            failures.Add($"OtlpEndpoint: '{endpoint}' is not an http:// or https:// URL (or none)");
        if (options.LogFormat is not ("simple" or "json"))
            failures.Add($"LogFormat: '{options.LogFormat}' is not simple or json");
        if (options.OtlpProtocol is { } protocol && protocol is not ("grpc" or "http/protobuf"))
            failures.Add($"OtlpProtocol: '{protocol}' is not grpc or http/protobuf");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
