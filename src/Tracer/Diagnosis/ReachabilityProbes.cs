using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
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
/// (httpGet: a status from 200 to 399; tcpSocket and grpc: the connection; the spec's timeout). Few and
/// bounded: three of each. Sockets are made in the namespace they probe from.
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

    /// <summary>
    /// The pod's probes as its spec has them, each endpoint once (the probe whose failure costs most names it). gRPC
    /// and HTTPS probes are judged by their connection: Tracer speaks neither protocol, and the network's part is the connection.
    /// </summary>
    private static IEnumerable<ProbeResult> OwnProbes(DiagnoseTarget target)
    {
        foreach (var endpoint in target.Probes.GroupBy(p => (p.Handler, p.Port, p.Path, p.Scheme)))
        {
            var probe = PodProbe.MostSevere([.. endpoint])!;
            var kinds = string.Join("/", endpoint.Select(p => p.KindName).Distinct());
            var timeout = TimeSpan.FromSeconds(Math.Max(1, probe.TimeoutSeconds));
            var result = probe.Handler == "httpGet" && probe.Scheme == "HTTP"
                ? Http(target.Address, probe.Port, probe.Path ?? "/", timeout)
                : Tcp(target.Address, probe.Port, timeout);
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

    private static ProbeResult Http(IPAddress pod, int port, string path, TimeSpan timeout)
    {
        var statuses = new List<int>();
        var ok = Repeat(() =>
        {
            var status = Get(new IPEndPoint(pod, port), path, timeout);
            if (status is { } s)
                statuses.Add(s);
            return status is >= 200 and < 400; // kubelet's success
        });
        var seen = statuses.Count == 0 ? "no answer" : "status " + string.Join(", ", statuses.Distinct());
        return new ProbeResult(ProbeResult.NodeToPod, "http get", $"http://{Format(pod, port)}{path}", Attempts, statuses.Count, ok,
                               $"{ok} of {Attempts} succeeded ({seen})");
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
    private static int? Get(IPEndPoint endpoint, string path, TimeSpan timeout)
    {
        using var socket = Connect(endpoint, timeout, out _);
        if (socket is null)
            return null;
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.Send(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {Format(endpoint.Address, endpoint.Port)}\r\nUser-Agent: tracer-diagnose\r\nConnection: close\r\n\r\n"));
        var buffer = new byte[4096];
        try
        {
            var read = socket.Receive(buffer);
            var statusLine = Encoding.ASCII.GetString(buffer, 0, read).Split(' ');
            // Read the rest, as kubelet does: closing with unread data would reset the connection (a drop of our own making).
            var total = read;
            while (read > 0 && total < 1 << 20)
                total += read = socket.Receive(buffer);
            return statusLine.Length > 1 && int.TryParse(statusLine[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static string Format(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
}
