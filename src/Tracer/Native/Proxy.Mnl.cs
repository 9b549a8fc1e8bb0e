namespace Tracer.Native;

/// <summary>libmnl (libmnl/libmnl.h): netlink sockets.</summary>
internal static unsafe partial class Proxy
{
    public static MnlSocketHandle mnl_socket_open(int bus) =>
        Own<MnlSocketHandle>(Ensure.NotNull(Mnl.mnl_socket_open(bus), "mnl_socket_open"));

    public static void mnl_socket_bind(MnlSocketHandle socket, uint groups, int pid) =>
        Ensure.Syscall(Mnl.mnl_socket_bind(socket.Socket, groups, pid), "mnl_socket_bind");

    public static int mnl_socket_get_fd(MnlSocketHandle socket) => Mnl.mnl_socket_get_fd(socket.Socket);

    public static void mnl_socket_setsockopt<TValue>(MnlSocketHandle socket, int type, in TValue value) where TValue : unmanaged
    {
        fixed (TValue* pointer = &value)
            Ensure.Syscall(Mnl.mnl_socket_setsockopt(socket.Socket, type, pointer, (uint)sizeof(TValue)), $"mnl_socket_setsockopt({type})");
    }

    /// <summary>Receives one datagram; 0 when the receive timeout passed without one, or the socket lost events.</summary>
    public static int mnl_socket_recvfrom(MnlSocketHandle socket, Span<byte> buffer)
    {
        fixed (byte* data = buffer)
        {
            var received = Mnl.mnl_socket_recvfrom(socket.Socket, data, (nuint)buffer.Length);
            // ENOBUFS: events were lost (the receive buffer overflowed); the socket goes on with later ones.
            // EINTR: a signal (a debugger's or tracer's stop, a handler without SA_RESTART) cut the wait short: nothing arrived.
            return Ensure.SyscallOr(received, "mnl_socket_recvfrom", Errno.EAGAIN, Errno.ENOBUFS, Errno.EINTR) ? (int)received : 0;
        }
    }

    /// <summary>Calls <paramref name="callback"/> for each netlink message in <paramref name="buffer"/>.</summary>
    public static void mnl_cb_run(ReadOnlySpan<byte> buffer, delegate* unmanaged<nlmsghdr*, void*, int> callback, void* context)
    {
        fixed (byte* data = buffer)
            Mnl.mnl_cb_run(data, (nuint)buffer.Length, 0, 0, callback, context);
    }
}
