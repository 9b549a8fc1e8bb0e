using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tracer.Daemon;
using Tracer.Errors;

namespace Tracer.Cli;

/// <summary><c>tracer session start|list|stop</c>: asks the node's daemon over its control socket.</summary>
internal static class SessionCommand
{
    /// <summary>Sends one request; for start, streams the session to stdout until it ends or Ctrl-C (which ends it).</summary>
    public static async Task<int> RunAsync(string socketPath, ControlRequest request, CancellationToken cancellationToken)
    {
        using var socket = Connect(socketPath);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(ControlJson.Line(request)), cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(stream, cancellationToken).ConfigureAwait(false)
            ?? throw new UserError("The daemon closed the connection without answering.", "See its log ('journalctl -u tracer' or 'kubectl logs').", ExitCodes.Failure);
        if (reply.Error is { } error)
            throw new UserError(error, reply.Remedy ?? "", ExitCodes.Usage);
        switch (request.Command)
        {
            case "list":
                foreach (var s in reply.Sessions ?? [])
                    Console.WriteLine(FormattableString.Invariant(
                        $"{s.Id}\t{s.Target}\t{string.Join(',', s.Addresses)}\tstarted {s.Started:O}\t{(s.Ends is { } e ? $"ends {e:O}" : "until stopped")}\t{s.Drops} drops\tclient pid {s.ClientPid}{(s.TraceId is { } t ? $"\ttrace {t}" : "")}"));
                if (reply.Sessions is not { Length: > 0 })
                    Console.Error.WriteLine("no sessions");
                return ExitCodes.Success;
            case "stop":
                Console.Error.WriteLine($"stopped {reply.Stopped}");
                return ExitCodes.Success;
        }
        var session = reply.Session!;
        Console.Error.WriteLine($"session {session.Id}: tracing {session.Target} ({string.Join(", ", session.Addresses)}) in detail" +
                                (session.TraceId is { } trace ? $"; trace id {trace}" : "") + "; Ctrl-C ends it");
        // Ctrl-C: closing the connection is what ends the session on the daemon's side.
        using var stdout = Console.OpenStandardOutput();
        try
        {
            await stream.CopyToAsync(stdout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        socket.Shutdown(SocketShutdown.Both);
        Console.Error.WriteLine($"session {session.Id} ended");
        return ExitCodes.Success;
    }

    private static Socket Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported when !File.Exists(path) => NoDaemon(path),
                SocketError.AccessDenied => new UserError($"Permission denied on {path}: only root may talk to the Tracer daemon.",
                                                          "Run it with sudo.", ExitCodes.MissingPrivilegeOrFeature),
                SocketError.ConnectionRefused => new UserError($"No Tracer daemon answers on {path} (a stale socket).",
                                                               "Start the daemon ('tracer daemon' or 'systemctl start tracer'), or use 'tracer trace'.", ExitCodes.Failure),
                _ when !File.Exists(path) => NoDaemon(path),
                _ => new UserError($"Cannot reach the Tracer daemon on {path}: {e.Message}.", "Check that it runs ('tracer daemon').", ExitCodes.Failure),
            };
        }
    }

    private static UserError NoDaemon(string path) => new($"No Tracer daemon runs on this node (no control socket at {path}).",
        "Start it ('tracer daemon', 'systemctl start tracer', or the DaemonSet), or trace without it: 'tracer trace'.", ExitCodes.Failure);

    private static async Task<ControlReply?> ReadReplyAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 1 && one[0] != '\n')
            line.Add(one[0]);
        return line.Count == 0 ? null : JsonSerializer.Deserialize([.. line], ControlJson.Default.ControlReply);
    }
}
