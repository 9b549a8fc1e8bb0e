using System.Net.Sockets;
using System.Text;

namespace Tracer.Tests.Infrastructure;

/// <summary>A liveness endpoint in a pod: answers every HTTP request on the port with 200 "ok", as a healthy app does.</summary>
internal sealed class PodHttpServer : IDisposable
{
    private static readonly byte[] Ok = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    private readonly Socket _listener;
    private readonly Thread _thread;
    private int _connections;

    private PodHttpServer(Socket listener)
    {
        _listener = listener;
        _thread = new Thread(Serve) { IsBackground = true, Name = "pod-http" };
        _thread.Start();
    }

    /// <summary>Connections accepted so far: a prober (or kubelet) reached the pod.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Listens on the pod's address, the socket made inside its namespace.</summary>
    public static PodHttpServer Start(Pod pod, int port) => new(NamespaceSockets.ListenIn($"/run/netns/{pod.Namespace}", port, pod.IPv4));

    private void Serve()
    {
        var request = new byte[4096];
        while (true)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return; // disposed
            }
            Interlocked.Increment(ref _connections);
            using (client)
            {
                try
                {
                    client.ReceiveTimeout = 1000;
                    client.Receive(request);
                    client.Send(Ok);
                }
                catch (SocketException)
                {
                    // the prober gave up
                }
            }
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _thread.Join(TimeSpan.FromSeconds(2));
    }
}
