using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>The C library (glibc).</summary>
internal static unsafe partial class Proxy
{
    /// <summary>open(2) without O_CREAT, e.g. a cgroup directory for bpf calls that take its fd.</summary>
    public static SafeFileHandle open(string path, int flags)
    {
        fixed (byte* text = Utf8(path))
        {
            var fd = Ensure.Syscall(Libc.open((sbyte*)text, flags), $"opening {path}");
            return new SafeFileHandle((nint)fd, ownsHandle: true);
        }
    }

    /// <summary>
    /// read(2) on a non-blocking descriptor: the bytes read, 0 when nothing more is there now (EAGAIN). EPIPE — the
    /// kernel log overwrote the next record before it was read — is skipped: reading goes on with the oldest record left.
    /// </summary>
    public static int read(SafeFileHandle fd, Span<byte> buffer)
    {
        fixed (byte* data = buffer)
        {
            while (true)
            {
                var read = Libc.read((int)fd.DangerousGetHandle(), data, (nuint)buffer.Length);
                if (Ensure.SyscallOr(read, "read", Errno.EAGAIN, Errno.EPIPE))
                    return (int)read;
                if ((Errno)System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Errno.EAGAIN)
                    return 0;
            }
        }
    }

    public static void setns(SafeFileHandle namespaceFd, int type) =>
        Ensure.Syscall(Libc.setns((int)namespaceFd.DangerousGetHandle(), type), "setns");

    public static void unshare(int flags) => Ensure.Syscall(Libc.unshare(flags), "unshare");

    public static timespec clock_gettime(int clock)
    {
        timespec time;
        Ensure.Syscall(Libc.clock_gettime(clock, &time), "clock_gettime");
        return time;
    }

    public static void setsockopt<TValue>(int fd, int level, int option, in TValue value) where TValue : unmanaged
    {
        fixed (TValue* pointer = &value)
            Ensure.Syscall(Libc.setsockopt(fd, level, option, pointer, (uint)sizeof(TValue)), $"setsockopt(level {level}, option {option})");
    }
}
