using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>The one place where native error conventions become exceptions.</summary>
internal static unsafe class Ensure
{
    /// <summary>libbpf 1.x int-returning calls: negative errno on failure.</summary>
    public static int Success(int result, string operation)
    {
        if (result < 0)
            throw Failure(operation, -result);
        return result;
    }

    /// <summary>libbpf pointer-returning calls: NULL and errno on failure.</summary>
    public static T* NotNull<T>(T* pointer, string operation) where T : unmanaged
    {
        if (pointer == null)
            throw Failure(operation, Marshal.GetLastPInvokeError());
        return pointer;
    }

    /// <summary>libc and raw syscalls: -1 and errno on failure.</summary>
    public static long Syscall(long result, string operation)
    {
        if (result < 0)
            throw Failure(operation, Marshal.GetLastPInvokeError());
        return result;
    }

    private static NativeException Failure(string operation, int errno)
    {
        var buffer = stackalloc sbyte[256];
        var message = Libbpf.libbpf_strerror(errno, buffer, 256) == 0
            ? new string(buffer)
            : Marshal.GetPInvokeErrorMessage(errno);
        return new NativeException(operation, errno, message, LibbpfLog.TakeRecentWarnings());
    }
}
