using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tracer.Kernel;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// A real server of another protocol in a pod's namespace (a gRPC health service by grpcio, an HTTPS server by
/// openssl), started with <c>ip netns exec</c>; ready once its port accepts a connection; killed on Dispose.
/// </summary>
internal sealed class PodServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _workDir;

    private PodServerProcess(Process process, string workDir)
    {
        _process = process;
        _workDir = workDir;
    }

    /// <summary>grpc.health.v1.Health on the pod's address: the overall health SERVING, service "payments" NOT_SERVING, any other unknown.</summary>
    public static PodServerProcess GrpcHealth(Pod pod, int port) => Start(pod, port, null, "/usr/bin/python3", "-c", """
        import sys, grpc
        from concurrent import futures
        statuses = {"": 1, "payments": 2}  # SERVING, NOT_SERVING (grpc/health/v1/health.proto)
        def check(request, context):
            service = request[2:].decode() if request[:1] == b"\x0a" else ""
            if service not in statuses:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            return bytes([0x08, statuses[service]])
        server = grpc.server(futures.ThreadPoolExecutor(2))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}),))
        server.add_insecure_port(f"{sys.argv[1]}:{sys.argv[2]}")
        server.start()
        server.wait_for_termination()
        """, pod.IPv4.ToString(), port.ToString());

    /// <summary>An HTTPS server with a throwaway self-signed certificate, answering every GET with 200.</summary>
    public static PodServerProcess Https(Pod pod, int port)
    {
        var dir = Directory.CreateTempSubdirectory("tracer-https-").FullName;
        Shell.Check("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pod",
                    "-keyout", Path.Combine(dir, "key.pem"), "-out", Path.Combine(dir, "cert.pem"));
        return Start(pod, port, dir, "openssl", "s_server", "-www", "-quiet", "-accept", $"{pod.IPv4}:{port}",
                     "-cert", Path.Combine(dir, "cert.pem"), "-key", Path.Combine(dir, "key.pem"));
    }

    private static PodServerProcess Start(Pod pod, int port, string? workDir, string command, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["netns", "exec", pod.Namespace, command, .. arguments])
            start.ArgumentList.Add(argument);
        var server = new PodServerProcess(Process.Start(start)!, workDir ?? "");
        try
        {
            Poll.Until(() => server._process.HasExited || Accepts(pod, port), TimeSpan.FromSeconds(20),
                       () => $"{command} did not listen on {pod.IPv4}:{port}");
            if (server._process.HasExited)
                Assert.Fail($"{command} exited: {server._process.StandardError.ReadToEnd()}");
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private static bool Accepts(Pod pod, int port) => NetworkNamespace.RunIn($"/run/netns/{pod.Namespace}", () =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(new IPEndPoint(pod.IPv4, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    });

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
        if (_workDir.Length > 0)
            Directory.Delete(_workDir, recursive: true);
    }
}
