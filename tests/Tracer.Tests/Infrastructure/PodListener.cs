using System.Net;
using System.Net.Sockets;
using Tracer.Kernel;

namespace Tracer.Tests.Infrastructure;

/// <summary>A UDP socket bound inside a pod's namespace, counting what reaches it.</summary>
internal sealed class PodListener : IDisposable
{
    private readonly Socket _socket;

    private PodListener(Socket socket) => _socket = socket;

    /// <summary>Binds in the pod's namespace: a socket stays in the namespace it was created in.</summary>
    public static PodListener Udp(Pod pod, int port) => new(NetworkNamespace.RunIn($"/run/netns/{pod.Namespace}", () =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(pod.IPv4, port));
        return socket;
    }));

    /// <summary>Datagrams received so far, waiting briefly for stragglers.</summary>
    public int Received()
    {
        var buffer = new byte[2048];
        var count = 0;
        while (_socket.Poll(TimeSpan.FromMilliseconds(200), SelectMode.SelectRead))
        {
            _socket.Receive(buffer);
            count++;
        }
        return count;
    }

    public void Dispose() => _socket.Dispose();
}
