using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Discovery;
using Tracer.Telemetry;

namespace Tracer.Daemon;

/// <summary>
/// What the daemon's parts share: where pods come from (the Kubernetes API, else routes), the OTLP
/// export (null when no endpoint is configured), and the status line of the running trace.
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
            Pods = Kubernetes = new KubernetesPodSource(config, KubernetesAccess.NodeName(settings.NodeName)!, routes,
                                                        loggers.CreateLogger<KubernetesPodSource>());
        else
            logger.LogWarning("pods are found from the node's routes, without names: {Why}", why);
        if (settings.Otlp() is { } target)
        {
            Export = new OtlpExport(target, logger);
            logger.LogInformation("exporting drop episodes and metrics over OTLP ({Protocol}) to {Endpoint}", target.Protocol, target.Endpoint);
        }
        else
        {
            logger.LogWarning("no OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OtlpEndpoint): drops are only logged");
        }
    }

    public IPodSource Pods { get; }
    public KubernetesPodSource? Kubernetes { get; }
    public OtlpExport? Export { get; }
    public string? Status { get; set; }

    public void Dispose()
    {
        Kubernetes?.Dispose();
        Export?.Dispose();
    }
}
