using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Trace.V1;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Telemetry;

/// <summary>
/// A real OTLP receiver: gRPC (TraceService, MetricsService) on one port, HTTP/protobuf (/v1/traces,
/// /v1/metrics) on another, on the loopback of a test's network namespace — its listening sockets
/// are made inside that namespace, so a Tracer running there reaches it and nothing else can.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Socket[] _listeners;

    public ConcurrentQueue<ResourceSpans> Spans { get; } = new();
    public ConcurrentQueue<ResourceMetrics> Metrics { get; } = new();
    /// <summary>Every span received so far, whatever resource and scope it came with.</summary>
    public List<Span> AllSpans => [.. Spans.SelectMany(s => s.ScopeSpans).SelectMany(s => s.Spans)];

    /// <summary>The data points of one sum metric received so far.</summary>
    public List<NumberDataPoint> SumPoints(string metric) =>
        [.. Metrics.SelectMany(m => m.ScopeMetrics).SelectMany(s => s.Metrics).Where(m => m.Name == metric).SelectMany(m => m.Sum.DataPoints)];

    /// <summary>An attribute's value as text (ints in invariant digits, bools as true/false); null when absent.</summary>
    public static string? Attribute(IEnumerable<KeyValue> attributes, string key) =>
        attributes.FirstOrDefault(a => a.Key == key)?.Value switch
        {
            null => null,
            { ValueCase: AnyValue.ValueOneofCase.StringValue } v => v.StringValue,
            { ValueCase: AnyValue.ValueOneofCase.IntValue } v => v.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            { ValueCase: AnyValue.ValueOneofCase.BoolValue } v => v.BoolValue ? "true" : "false",
            var v => v.ToString(),
        };

    public int GrpcPort { get; }
    public int HttpPort { get; }

    private int _exportsWaiting;

    /// <summary>Exports received and not answered yet: a slow collector holds each for its delay.</summary>
    public int ExportsWaiting => Volatile.Read(ref _exportsWaiting);

    /// <summary>Holds an export for the collector's delay, counted as waiting meanwhile.</summary>
    private async Task Hold(TimeSpan delay)
    {
        Interlocked.Increment(ref _exportsWaiting);
        try
        {
            await Task.Delay(delay);
        }
        finally
        {
            Interlocked.Decrement(ref _exportsWaiting);
        }
    }

    private OtlpReceiver(WebApplication app, Socket[] listeners)
    {
        _app = app;
        _listeners = listeners;
        GrpcPort = ((IPEndPoint)listeners[0].LocalEndPoint!).Port;
        HttpPort = ((IPEndPoint)listeners[1].LocalEndPoint!).Port;
    }

    /// <summary>
    /// Starts listening in the namespace, on free ports or on <paramref name="grpcPort"/> for gRPC;
    /// <paramref name="delay"/> makes every export wait that long for its answer (a slow collector).
    /// </summary>
    public static async Task<OtlpReceiver> StartIn(string namespacePath, int grpcPort = 0, TimeSpan delay = default)
    {
        var grpc = NamespaceSockets.ListenIn(namespacePath, grpcPort);
        var http = NamespaceSockets.ListenIn(namespacePath, 0);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenHandle((ulong)grpc.Handle, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.ListenHandle((ulong)http.Handle, listen => listen.Protocols = HttpProtocols.Http1);
        });
        OtlpReceiver? receiver = null;
        builder.Services.AddSingleton(new ExportDelay(delay));
        builder.Services.AddSingleton(_ => receiver!);
        var app = builder.Build();
        receiver = new OtlpReceiver(app, [grpc, http]);
        app.MapGrpcService<TraceReceiver>();
        app.MapGrpcService<MetricsReceiver>();
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            await receiver.Hold(delay);
            var request = ExportTraceServiceRequest.Parser.ParseFrom(await Body(context));
            foreach (var spans in request.ResourceSpans)
                receiver.Spans.Enqueue(spans);
            return Results.Bytes(new ExportTraceServiceResponse().ToByteArray(), "application/x-protobuf");
        });
        app.MapPost("/v1/metrics", async (HttpContext context) =>
        {
            await receiver.Hold(delay);
            var request = ExportMetricsServiceRequest.Parser.ParseFrom(await Body(context));
            foreach (var metrics in request.ResourceMetrics)
                receiver.Metrics.Enqueue(metrics);
            return Results.Bytes(new ExportMetricsServiceResponse().ToByteArray(), "application/x-protobuf");
        });
        await app.StartAsync();
        return receiver;
    }

    private static async Task<byte[]> Body(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var listener in _listeners)
            listener.Dispose();
    }

    private sealed record ExportDelay(TimeSpan Value);

    private sealed class TraceReceiver(OtlpReceiver receiver, ExportDelay delay) : TraceService.TraceServiceBase
    {
        public override async Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            await receiver.Hold(delay.Value);
            foreach (var spans in request.ResourceSpans)
                receiver.Spans.Enqueue(spans);
            return new ExportTraceServiceResponse();
        }
    }

    private sealed class MetricsReceiver(OtlpReceiver receiver, ExportDelay delay) : MetricsService.MetricsServiceBase
    {
        public override async Task<ExportMetricsServiceResponse> Export(ExportMetricsServiceRequest request, ServerCallContext context)
        {
            await receiver.Hold(delay.Value);
            foreach (var metrics in request.ResourceMetrics)
                receiver.Metrics.Enqueue(metrics);
            return new ExportMetricsServiceResponse();
        }
    }
}
