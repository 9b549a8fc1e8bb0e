using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Native;
using Tracer.Output;
using Tracer.Telemetry;

namespace Tracer.Daemon;

/// <summary>
/// The daemon's Unix socket for on-demand sessions (<c>tracer session …</c>). Only root may use it:
/// the socket is mode 0600 in a 0700 directory, and each connection's peer credentials are checked.
/// A socket file that nobody answers on is a stale one (a daemon that was killed) and is replaced;
/// one that answers means a second daemon, which refuses to start.
/// </summary>
internal sealed class ControlSocket(IOptions<DaemonOptions> options, OnDemandSessions sessions, DaemonServices services,
                                   ILogger<ControlSocket> logger) : BackgroundService
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);
    private Socket? _listener;
    private string Path => options.Value.ControlSocket;

    /// <summary>Binds the socket before the host starts, so a second daemon is refused with one sentence.</summary>
    public void Claim()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (File.Exists(Path))
            ReplaceStale();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Path));
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new UserError($"Cannot listen on the control socket {Path}: {e.Message}.",
                                "Set ControlSocket (--control-socket) to a path in a directory root can write.", ExitCodes.Failure);
        }
        _listener = listener;
    }

    private void ReplaceStale()
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(Path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(Path);
            logger.LogWarning("removed the stale control socket {Path} (a daemon that did not exit cleanly)", Path);
            return;
        }
        throw new UserError($"Another Tracer daemon is running on this node: it answers on {Path}.",
                            "Stop it first (one daemon per node), or give this one another ControlSocket.", ExitCodes.Failure);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var connections = new List<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener!.AcceptAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            connections.RemoveAll(t => t.IsCompleted);
            connections.Add(ServeAsync(client, stoppingToken));
        }
        sessions.StopAll("the daemon is stopping");
        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _listener?.Dispose();
        File.Delete(Path);
    }

    private async Task ServeAsync(Socket client, CancellationToken stoppingToken)
    {
        using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            var peer = PeerCredentials(client);
            if (peer.uid != 0)
            {
                logger.LogWarning("control socket: refused pid {Pid} (uid {Uid}): only root may start sessions", peer.pid, peer.uid);
                await ReplyAsync(stream, new ControlReply("Only root may use the Tracer daemon's control socket.", "Run 'tracer session' with sudo."),
                                 stoppingToken).ConfigureAwait(false);
                return;
            }
            var request = await ReadRequestAsync(stream, stoppingToken).ConfigureAwait(false);
            if (request is null)
            {
                await ReplyAsync(stream, new ControlReply("Malformed request: expected one JSON line with a command (start, list, stop).",
                                                          "Use 'tracer session start|list|stop'."), stoppingToken).ConfigureAwait(false);
                return;
            }
            switch (request.Command)
            {
                case "list":
                    await ReplyAsync(stream, new ControlReply(Sessions: [.. sessions.List().Select(Info)]), stoppingToken).ConfigureAwait(false);
                    break;
                case "stop" when request.Id is { } id:
                    await ReplyAsync(stream, sessions.Stop(id, "stopped by request")
                        ? new ControlReply(Stopped: id)
                        : new ControlReply($"No session {id}.", "'tracer session list' shows the running ones."), stoppingToken).ConfigureAwait(false);
                    break;
                case "stop":
                    await ReplyAsync(stream, new ControlReply("stop needs the session's id.", "'tracer session list' shows the running ones."),
                                     stoppingToken).ConfigureAwait(false);
                    break;
                case "start":
                    await StartSessionAsync(stream, request, peer.pid, stoppingToken).ConfigureAwait(false);
                    break;
                default:
                    await ReplyAsync(stream, new ControlReply($"Unknown command '{request.Command}'.", "Use start, list, or stop ID."),
                                     stoppingToken).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // the client went away, or the daemon is stopping
        }
        catch (Exception e) // one client's request never takes the daemon down
        {
            logger.LogWarning(e, "control socket: a request failed: {Error}", e.Message);
        }
    }

    private async Task StartSessionAsync(NetworkStream stream, ControlRequest request, int clientPid, CancellationToken stoppingToken)
    {
        var (target, networks, error) = Resolve(request);
        if (error is not null)
        {
            await ReplyAsync(stream, error, stoppingToken).ConfigureAwait(false);
            return;
        }
        var id = sessions.NextId();
        var ends = request.DurationSeconds is { } seconds ? DateTimeOffset.UtcNow.AddSeconds(seconds) : (DateTimeOffset?)null;
        var telemetry = services.Export.ExportsSpans
            ? new TelemetryOutput(services.Export, [new("tracer.session.id", id), new("tracer.session.target", target),
                                           new("tracer.session.watched", networks.Select(n => n.ToString()).ToArray()),
                                           new("tracer.session.on_demand", true)], countMetrics: false, services.Pods)
            : null;
        telemetry?.Started(services.Status ?? "");
        IDropOutput output = request.Output == "table"
            ? new PlainTextOutput(new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { AutoFlush = true }, services.Pods)
            : new JsonLinesOutput(stream, services.Pods);
        var session = new OnDemandSession(id, target, networks, ends, request.Stack, output, telemetry, clientPid);
        sessions.Add(session);
        // "Started" means the pod is already watched in detail (within an interval or two).
        await Task.WhenAny(session.Detailed, Task.Delay(TimeSpan.FromSeconds(5), stoppingToken)).ConfigureAwait(false);
        await ReplyAsync(stream, new ControlReply(Session: Info(session)), stoppingToken).ConfigureAwait(false);
        if (!session.Open())
            sessions.Stop(id, "the client went away");
        // The client sends nothing more: a read that returns is its end (or the session's).
        var buffer = new byte[1];
        var clientGone = stream.ReadAsync(buffer, stoppingToken).AsTask();
        if (await Task.WhenAny(session.Ended, clientGone).ConfigureAwait(false) == clientGone)
            sessions.Stop(id, "the client went away");
    }

    /// <summary>A start request's target, checked as the command line checks it (any client may write to the socket).</summary>
    private (string Target, IReadOnlyList<IPNetwork> Networks, ControlReply? Error) Resolve(ControlRequest request)
    {
        if (request.DurationSeconds is { } seconds &&
            ArgumentParsers.ParseDuration(seconds.ToString("R", CultureInfo.InvariantCulture), out var durationError) is null)
            return ("", [], new ControlReply($"duration_seconds {durationError}", "Give a number of seconds, e.g. 30."));
        if (ArgumentParsers.ParseChoice(request.Output ?? "", ["json", "table"], out var outputError) is null)
            return ("", [], new ControlReply($"output {outputError}", "Use json or table."));
        if ((request.Ip is null) == (request.Pod is null))
            return ("", [], new ControlReply("A session needs a pod or an address (one of them).", "Use --pod NAMESPACE/NAME or --ip ADDR."));
        if (request.Ip is { } ip)
        {
            return ArgumentParsers.ParseNetwork(ip, out var error) is { } network
                ? (ip, [network], null)
                : ("", [], new ControlReply($"--ip {error}", "Give an address or CIDR, e.g. 10.0.0.5."));
        }
        if (ArgumentParsers.ParsePod(request.Pod!, out var podError) is not { } pod)
            return ("", [], new ControlReply($"--pod {podError}", "Name the pod as NAMESPACE/NAME, or use --ip."));
        var snapshot = services.Pods.Current;
        if (snapshot.Origin != "kubernetes")
            return ("", [], new ControlReply($"The daemon knows no pod names: it finds pods from {snapshot.Origin}, not the Kubernetes API.",
                                             "Use --ip with the pod's address, or give the daemon API access (NODE_NAME, in-cluster or Kubeconfig)."));
        var pods = snapshot.Named(pod.Namespace, pod.Name);
        return pods.Count == 0
            ? ("", [], new ControlReply($"No pod {request.Pod} on this node.", "'kubectl get pod -o wide' shows which node runs it; start the session on that node's daemon."))
            : (request.Pod!, [.. pods.Select(p => p.Network)], null);
    }

    private static SessionInfo Info(OnDemandSession s) =>
        new(s.Id, s.Target, [.. s.Networks.Select(n => n.ToString())], s.Started, s.Ends, s.Drops, s.ClientPid, s.TraceId);

    private static async Task<ControlRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(RequestTimeout);
        var buffer = new byte[ControlJson.MaxRequestBytes];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length, 1), timeout.Token).ConfigureAwait(false);
            if (read == 0 || buffer[length] == '\n')
                break;
            length++;
        }
        try
        {
            var request = JsonSerializer.Deserialize(buffer.AsSpan(0, length), ControlJson.Default.ControlRequest);
            return request?.Command is null ? null : request;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task ReplyAsync(NetworkStream stream, ControlReply reply, CancellationToken cancellationToken) =>
        await stream.WriteAsync(Encoding.UTF8.GetBytes(ControlJson.Line(reply)), cancellationToken).ConfigureAwait(false);

    /// <summary>Who is on the other end: SO_PEERCRED, set by the kernel at connect time, so it cannot be forged.</summary>
    private static ucred PeerCredentials(Socket socket)
    {
        var credentials = new ucred();
        socket.GetRawSocketOption(Libc.SOL_SOCKET, Libc.SO_PEERCRED, MemoryMarshal.AsBytes(new Span<ucred>(ref credentials)));
        return credentials;
    }
}
