using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Discovery;
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
        var routes = new RoutePodSource(TimeSpan.FromSeconds(5));
        Pods = routes;
        var why = "Kubernetes is off in the settings";
        if (settings.Kubernetes != "off" && KubernetesAccess.Config(settings.NodeName, settings.Kubeconfig, out why) is { } config)
        {
            var node = KubernetesAccess.NodeName(settings.NodeName)!;
            Pods = Kubernetes = new KubernetesPodSource(config, node, routes, loggers.CreateLogger<KubernetesPodSource>());
            ClusterObjects = new KubernetesClusterObjects(config, node);
            ClusterOwners = new Sessions.ClusterOwners(ClusterObjects);
            if (settings.Events == "on")
                Events = new PodEvents(new k8s.Kubernetes(config), node, loggers.CreateLogger<PodEvents>());
        }
        else
            logger.LogWarning("pods are found from the node's routes, without names: {Why}", why);
        var otlp = settings.Otlp();
        Export = new TelemetryExport(otlp, settings.HealthPort == 0 ? null : settings.HealthPort, logger);
        if (otlp is not null)
            logger.LogInformation("exporting drop episodes and metrics over OTLP ({Protocol}) to {Endpoint}", otlp.Protocol, otlp.Endpoint);
        else
            logger.LogWarning("no OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OtlpEndpoint): drops are logged and counted in the metrics, no spans are sent");
    }

    public IPodSource Pods { get; }
    public KubernetesPodSource? Kubernetes { get; }

    /// <summary>Checks owners named from rules against the API; null without it.</summary>
    public Sessions.ClusterOwners? ClusterOwners { get; }
    private KubernetesClusterObjects? ClusterObjects { get; }

    /// <summary>Events on the pods whose packets are dropped; null without the Kubernetes API, or when turned off.</summary>
    public PodEvents? Events { get; }
    /// <summary>Spans when an OTLP endpoint is set; the metrics always (OTLP, and /metrics on the health port).</summary>
    public TelemetryExport Export { get; }
    public string? Status { get; set; }

    public void Dispose()
    {
        Kubernetes?.Dispose();
        ClusterObjects?.Dispose();
        Events?.Dispose();
        Export.Dispose();
    }
}
