using System.Net;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tracer.Daemon;

/// <summary>Serves GET /healthz (liveness) and /readyz (readiness) for the kubelet: 200 or 503 with one line saying why.</summary>
internal sealed class HealthEndpoint(IOptions<DaemonOptions> options, DaemonHealth health, ILogger<HealthEndpoint> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var port = options.Value.HealthPort;
        if (port == 0)
            return;
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://*:{port}/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException e)
        {
            logger.LogError("health endpoint: cannot listen on port {Port} ({Error}); set HealthPort to a free port, or 0", port, e.Message);
            return;
        }
        using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            var (status, text) = context.Request.Url?.AbsolutePath switch
            {
                "/healthz" => Answer(health.Live),
                "/readyz" => Answer(health.Ready),
                _ => (404, "not found: /healthz or /readyz"),
            };
            var body = Encoding.UTF8.GetBytes(text + "\n");
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body, stoppingToken).ConfigureAwait(false);
            context.Response.Close();
        }
    }

    private static (int, string) Answer((bool Ok, string Why) check) => (check.Ok ? 200 : 503, check.Why);
}
