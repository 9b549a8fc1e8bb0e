using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Errors;
using Tracer.Native;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Telemetry;
using Tracer.Sessions;

namespace Tracer.Daemon;

/// <summary>
/// The daemon's continuous trace: every local pod watched, attributed, exported (each drop episode a
/// root span: a trace that never ends has no span to hang them on), on-demand sessions fed from it.
/// A failure to trace stops the daemon with the reason, after logging it.
/// </summary>
internal sealed class NodeTracing(IOptions<DaemonOptions> options, DaemonServices services, OnDemandSessions sessions, DaemonHealth health,
                                  IHostApplicationLifetime lifetime, ILogger<NodeTracing> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // loading the programs takes a while: the host goes on starting
        var events = services.Events?.RunAsync(stoppingToken) ?? Task.CompletedTask;
        var watcher = await services.Cluster.StartAsync(TimeSpan.FromSeconds(10), stoppingToken).ConfigureAwait(false);
        var settings = options.Value;
        using var telemetry = new TelemetryOutput(services.Export, sessionAttributes: null, countMetrics: true, services.Pods);
        var output = new DaemonOutput(telemetry, sessions, health, services, logger);
        var trace = new TraceSession(new TraceOptions(settings.Watch, WatchAll: false, Duration: null, Stacks: false) { Interval = settings.Interval },
                                     services.Pods, output, logger)
        {
            Detailed = sessions.DetailedNetworks,
            DetailApplied = sessions.DetailApplied,
            ClusterOwners = services.Cluster.Owners,
        };
        try
        {
            await trace.RunAsync(status =>
            {
                services.Status = status;
                health.Attached(status);
                telemetry.Started(status);
                logger.LogInformation("{Status}", status);
            }, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NativeException or DllNotFoundException or UserError or IOException)
        {
            health.Failed(e.Message);
            services.Export.Metrics.Attached(false);
            logger.LogCritical("tracing failed: {Error}", e.Message);
            if (e is NativeException native)
                foreach (var line in native.LibbpfLog.TakeLast(5))
                    logger.LogCritical("libbpf: {Line}", line);
            Environment.ExitCode = ExitCodes.Failure;
            lifetime.StopApplication();
        }
        finally
        {
            services.Export.Metrics.Attached(false);
            sessions.StopAll("the daemon is stopping");
        }
        await watcher.ConfigureAwait(false);
        await events.ConfigureAwait(false);
    }

    /// <summary>Each interval: the continuous export, the sessions' streams, the health heartbeat, the drop log and the pods' Events.</summary>
    private sealed class DaemonOutput(TelemetryOutput telemetry, OnDemandSessions sessions, DaemonHealth health, DaemonServices services, ILogger logger) : IDropOutput
    {
        private readonly DropLog _log = new(logger);

        public void Write(IReadOnlyList<DropRecord> records)
        {
            health.Drained();
            telemetry.Write(records);
            sessions.Write(records);
            var pods = services.Pods.Current;
            var now = DateTimeOffset.UtcNow;
            _log.Write(records, pods, now);
            services.Events?.Write(records, pods, now);
        }

        public void Observe(TraceProgress progress) => telemetry.Observe(progress);

        public void Complete(TraceSummary summary) => telemetry.Complete(summary);

        public void Dispose()
        {
            // the telemetry output belongs to the service
        }
    }
}
