using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.NetworkInformation;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Tracer.Discovery;
using Tracer.Kernel;

namespace Tracer.Diagnosis;

/// <summary>
/// One kind of probe, a few times: how many got an answer (the network delivered: an echo reply, a
/// SYN-ACK or a RST, any HTTP status) and how many succeeded the way kubelet counts success.
/// </summary>
internal sealed record ProbeResult(string Direction, string Kind, string Target, int Sent, int Answered, int Succeeded, string Detail)
{
    public const string NodeToPod = "node → pod";
    public const string PodToNode = "pod → node";

    public int Failed => Sent - Succeeded;
    public int Unanswered => Sent - Answered;
}

/// <summary>
/// Probes the pod the way kubelet does — ICMP echo, TCP connect, HTTP GET — from the node's network
/// namespace, and with --from pod ICMP echo from inside the pod to the node. Without --port, a pod named
/// through the API gets its own liveness, readiness and startup probes, judged as the kubelet judges them
/// (httpGet over HTTP or HTTPS: a status from 200 to 399; tcpSocket: the connection; grpc: the health service
/// answers SERVING; the spec's timeout). Few and bounded: three of each. Sockets are made in the namespace they probe from.
/// </summary>
internal static class ReachabilityProbes
{
    private const int Attempts = 3;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(200);

    public static IReadOnlyList<ProbeResult> Run(DiagnoseTarget target, int? port, string? path, bool fromPod)
    {
        var results = new List<ProbeResult> { Echo(ProbeResult.NodeToPod, null, target.Address) };
        if (port is { } p)
            results.Add(Tcp(target.Address, p, Timeout));
        if (port is { } httpPort && path is not null)
            results.Add(Http(target.Address, httpPort, path, Timeout));
        if (port is null)
            results.AddRange(OwnProbes(target));
        if (fromPod && target.NamespacePath is { } ns && target.NodeAddress is { } node)
            results.Add(Echo(ProbeResult.PodToNode, ns, node));
        return results;
    }

    private static ProbeResult Echo(string direction, string? ns, IPAddress destination)
    {
        var answered = Repeat(() => Within(ns, () =>
        {
            using var ping = new Ping();
            try
            {
                return ping.Send(destination, (int)Timeout.TotalMilliseconds).Status == IPStatus.Success;
            }
            catch (PingException)
            {
                return false; // e.g. EPERM: a netfilter hook dropped the request on its way out
            }
        }));
        return new ProbeResult(direction, "icmp echo", destination.ToString(), Attempts, answered, answered, $"{answered} of {Attempts} echoes answered");
    }

    /// <summary>The pod's probes as its spec has them, each endpoint once (the probe whose failure costs most names it).</summary>
    private static IEnumerable<ProbeResult> OwnProbes(DiagnoseTarget target)
    {
        foreach (var endpoint in target.Probes.GroupBy(p => (p.Handler, p.Port, p.Path, p.Scheme, p.GrpcService)))
        {
            var probe = PodProbe.MostSevere([.. endpoint])!;
            var kinds = string.Join("/", endpoint.Select(p => p.KindName).Distinct());
            var timeout = TimeSpan.FromSeconds(Math.Max(1, probe.TimeoutSeconds));
            var result = probe.Handler switch
            {
                "httpGet" => Http(target.Address, probe.Port, probe.Path ?? "/", timeout, tls: probe.Scheme == "HTTPS"),
                "grpc" => Grpc(target.Address, probe.Port, probe.GrpcService ?? "", timeout),
                _ => Tcp(target.Address, probe.Port, timeout),
            };
            yield return result with { Kind = $"{kinds} probe {probe.Endpoint}" };
        }
    }

    private static ProbeResult Tcp(IPAddress pod, int port, TimeSpan timeout)
    {
        var refused = 0;
        var connected = Repeat(() =>
        {
            using var socket = Connect(new IPEndPoint(pod, port), timeout, out var error);
            if (error == SocketError.ConnectionRefused)
                Interlocked.Increment(ref refused);
            return socket is not null;
        });
        var detail = refused > 0 ? $"{connected} of {Attempts} connected, {refused} refused (nothing listens on {port})" : $"{connected} of {Attempts} connected";
        return new ProbeResult(ProbeResult.NodeToPod, "tcp connect", $"{pod}:{port}", Attempts, connected + refused, connected, detail);
    }

    private static ProbeResult Http(IPAddress pod, int port, string path, TimeSpan timeout, bool tls = false)
    {
        var statuses = new List<int>();
        var ok = Repeat(() =>
        {
            var status = Get(new IPEndPoint(pod, port), path, timeout, tls);
            if (status is { } s)
                statuses.Add(s);
            return status is >= 200 and < 400; // kubelet's success
        });
        var seen = statuses.Count == 0 ? "no answer" : "status " + string.Join(", ", statuses.Distinct());
        return new ProbeResult(ProbeResult.NodeToPod, tls ? "https get" : "http get", $"{(tls ? "https" : "http")}://{Format(pod, port)}{path}", Attempts,
                               statuses.Count, ok, $"{ok} of {Attempts} succeeded ({seen})");
    }

    /// <summary>gRPC's health check as the kubelet sends it (grpc.health.v1.Health/Check, no TLS): only SERVING succeeds.</summary>
    private static ProbeResult Grpc(IPAddress pod, int port, string service, TimeSpan timeout)
    {
        var answers = new List<string>();
        var ok = Repeat(() =>
        {
            var answer = HealthCheck(new IPEndPoint(pod, port), service, timeout);
            if (answer is not null)
                answers.Add(answer);
            return answer == "SERVING";
        });
        var seen = answers.Count == 0 ? "no answer" : string.Join(", ", answers.Distinct());
        return new ProbeResult(ProbeResult.NodeToPod, "grpc health check", $"grpc://{Format(pod, port)}{(service.Length > 0 ? $" service {service}" : "")}",
                               Attempts, answers.Count, ok, $"{ok} of {Attempts} succeeded ({seen})");
    }

    private static readonly string[] ServingStatuses = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

    /// <summary>
    /// One Check call over HTTP/2 with prior knowledge: the serving status by name, "grpc-status N" when the call
    /// failed (12: the pod serves no health service), null without an answer in time.
    /// </summary>
    private static string? HealthCheck(IPEndPoint endpoint, string service, TimeSpan timeout)
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = (_, _) => Connect(endpoint, timeout, out _) is { } socket
                ? ValueTask.FromResult<Stream>(new NetworkStream(socket, ownsSocket: true))
                : throw new HttpRequestException("no connection"),
        };
        using var client = new HttpClient(handler) { Timeout = timeout };
        // HealthCheckRequest: field 1 (service), a length-delimited string; the gRPC frame: uncompressed, 4-byte big-endian length.
        var name = Encoding.UTF8.GetBytes(service);
        byte[] message = name.Length == 0 ? [] : [0x0a, (byte)name.Length, .. name];
        byte[] frame = [0, .. BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(message.Length)), .. message];
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{Format(endpoint.Address, endpoint.Port)}/grpc.health.v1.Health/Check")
        {
            Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        try
        {
            using var response = client.SendAsync(request).GetAwaiter().GetResult();
            var body = response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            var status = response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.First()
                : response.Headers.TryGetValues("grpc-status", out var header) ? header.First() : null; // a trailers-only answer
            if (status != "0")
                return $"grpc-status {status ?? $"missing (HTTP {(int)response.StatusCode})"}";
            // HealthCheckResponse: field 1 (status), a varint; absent means 0.
            var serving = body.Length >= 7 && body[5] == 0x08 ? body[6] : 0;
            return serving < ServingStatuses.Length ? ServingStatuses[serving] : $"status {serving}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return null;
        }
    }

    private static int Repeat(Func<bool> probe)
    {
        var succeeded = 0;
        for (var i = 0; i < Attempts; i++)
        {
            if (i > 0)
                Thread.Sleep(Pause);
            if (probe())
                succeeded++;
        }
        return succeeded;
    }

    private static T Within<T>(string? ns, Func<T> action) => ns is null ? action() : NetworkNamespace.RunIn(ns, action);

    private static Socket? Connect(IPEndPoint endpoint, TimeSpan timeout, out SocketError error)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            var connect = socket.ConnectAsync(endpoint);
            if (!connect.Wait(timeout))
            {
                error = SocketError.TimedOut;
                socket.Dispose();
                return null;
            }
            error = SocketError.Success;
            return socket;
        }
        catch (AggregateException e) when (e.InnerException is SocketException s)
        {
            error = s.SocketErrorCode;
            socket.Dispose();
            return null;
        }
    }

    /// <summary>GET as kubelet sends it; the status code, or null without an answer in time.</summary>
    private static int? Get(IPEndPoint endpoint, string path, TimeSpan timeout, bool tls)
    {
        using var socket = Connect(endpoint, timeout, out _);
        if (socket is null)
            return null;
        socket.ReceiveTimeout = socket.SendTimeout = (int)timeout.TotalMilliseconds;
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            if (tls)
            {
                // The kubelet does not verify an HTTPS probe's certificate: neither does the prober that stands in for it.
                var secure = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
                secure.AuthenticateAsClient(new SslClientAuthenticationOptions { TargetHost = endpoint.Address.ToString() });
                stream = secure;
            }
            stream.Write(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {Format(endpoint.Address, endpoint.Port)}\r\nUser-Agent: tracer-diagnose\r\nConnection: close\r\n\r\n"));
            var buffer = new byte[4096];
            var read = stream.Read(buffer);
            var statusLine = Encoding.ASCII.GetString(buffer, 0, read).Split(' ');
            // Read the rest, as kubelet does: closing with unread data would reset the connection (a drop of our own making).
            var total = read;
            while (read > 0 && total < 1 << 20)
                total += read = stream.Read(buffer);
            return statusLine.Length > 1 && int.TryParse(statusLine[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : null;
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
        {
            return null;
        }
        finally
        {
            stream.Dispose();
        }
    }

    private static string Format(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
}
