using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Discovery;
using Tracer.Sessions;
using Tracer.Telemetry;

namespace Tracer.Daemon;

/// <summary>
/// What the daemon's parts share: where pods come from (the Kubernetes API, else routes), the telemetry
/// export, and the status line of the running trace.
/// </summary>
internal sealed class DaemonServices : IDisposable
{
    public DaemonServices(IOptions<DaemonOptions> options, ILoggerFactory loggers)
    {
        var settings = options.Value;
        var logger = loggers.CreateLogger("Tracer.Daemon");
        Cluster = ClusterAccess.Open(settings.Kubernetes != "off", settings.NodeName, settings.Kubeconfig, loggers.CreateLogger<KubernetesPodSource>());
        if (Cluster.Config is { } config)
        {
            if (settings.Events == "on")
                Events = new PodEvents(new k8s.Kubernetes(config), Cluster.Node!, loggers.CreateLogger<PodEvents>());
        }
        else
            logger.LogWarning("pods are found from the node's routes, without names: {Why}", Cluster.WhyNot);
        var otlp = settings.Otlp();
        Export = new TelemetryExport(otlp, settings.HealthPort == 0 ? null : settings.HealthPort, logger);
        if (otlp is not null)
            logger.LogInformation("exporting drop episodes and metrics over OTLP ({Protocol}) to {Endpoint}", otlp.Protocol, otlp.Endpoint);
        else
            logger.LogWarning("no OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OtlpEndpoint): drops are logged and counted in the metrics, no spans are sent");
    }

    /// <summary>The node's pods (the Kubernetes API, else routes), and the API's check of owners named from rules.</summary>
    public ClusterAccess Cluster { get; }

    public IPodSource Pods => Cluster.Pods;

    /// <summary>Events on the pods whose packets are dropped; null without the Kubernetes API, or when turned off.</summary>
    public PodEvents? Events { get; }
    /// <summary>Spans when an OTLP endpoint is set; the metrics always (OTLP, and /metrics on the health port).</summary>
    public TelemetryExport Export { get; }
    public string? Status { get; set; }

    public void Dispose()
    {
        Cluster.Dispose();
        Events?.Dispose();
        Export.Dispose();
    }
}
