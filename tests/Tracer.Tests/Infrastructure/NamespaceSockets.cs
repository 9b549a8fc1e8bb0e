using System.Net;
using System.Net.Sockets;
using Tracer.Kernel;

namespace Tracer.Tests.Infrastructure;

/// <summary>Listening sockets made inside a test's network namespace: a Tracer running there reaches them, and nothing else can.</summary>
internal static class NamespaceSockets
{
    /// <summary>A listening TCP socket on an IPv4 address of the namespace, 127.0.0.1 by default (port 0: a free one).</summary>
    public static Socket ListenIn(string namespacePath, int port, IPAddress? address = null) => NetworkNamespace.RunIn(namespacePath, () =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address ?? IPAddress.Loopback, port));
        socket.Listen(64);
        return socket;
    });

    /// <summary>A port on the namespace's loopback that nothing listens on (yet).</summary>
    public static int FreePortIn(string namespacePath)
    {
        using var socket = ListenIn(namespacePath, 0);
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>GET http://127.0.0.1:PORT/PATH from inside the namespace: the status code and body.</summary>
    public static (int Status, string Body, string? ContentType) HttpGetIn(string namespacePath, int port, string path, string? accept = null)
    {
        // The connection is made on whatever thread HttpClient likes: its socket is connected in the namespace first.
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = (context, _) => ValueTask.FromResult<Stream>(new NetworkStream(NetworkNamespace.RunIn(namespacePath, () =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Connect(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port));
                return socket;
            }), ownsSocket: true)),
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{port}{path}"));
        if (accept is not null)
            request.Headers.Accept.ParseAdd(accept);
        using var response = client.Send(request);
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult(), response.Content.Headers.ContentType?.ToString());
    }
}
