using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>The one place where native error conventions become exceptions.</summary>
internal static unsafe class Ensure
{
    /// <summary>libbpf 1.x int-returning calls: negative errno on failure.</summary>
    public static int Success(int result, string operation)
    {
        if (result < 0)
            throw Failure(operation, (Errno)(-result));
        return result;
    }

    /// <summary>
    /// libbpf 1.x int-returning calls for which <paramref name="answer"/> is a reply, not a failure
    /// (ENOENT from a map: no such key). False when the call returned it.
    /// </summary>
    public static bool SuccessOr(Errno answer, int result, string operation)
    {
        if (result == -(int)answer)
            return false;
        Success(result, operation);
        return true;
    }

    /// <summary>libbpf pointer-returning calls: NULL and errno on failure.</summary>
    public static T* NotNull<T>(T* pointer, string operation) where T : unmanaged
    {
        if (pointer == null)
            throw Failure(operation, (Errno)Marshal.GetLastPInvokeError());
        return pointer;
    }

    /// <summary>libc and raw syscalls: -1 and errno on failure.</summary>
    public static long Syscall(long result, string operation)
    {
        if (result < 0)
            throw Failure(operation, (Errno)Marshal.GetLastPInvokeError());
        return result;
    }

    /// <summary>
    /// libc calls for which the errnos in <paramref name="answers"/> are replies, not failures
    /// (EAGAIN from a receive: nothing arrived in time). False when the call failed with one of them.
    /// </summary>
    public static bool SyscallOr(long result, string operation, params ReadOnlySpan<Errno> answers)
    {
        if (result < 0)
        {
            var errno = (Errno)Marshal.GetLastPInvokeError();
            foreach (var answer in answers)
                if (errno == answer)
                    return false;
            throw Failure(operation, errno);
        }
        return true;
    }

    /// <summary>libnftables: a non-zero result, and nft's own message in its error buffer (no errno).</summary>
    public static void NftSuccess(int result, string commands, string errorBuffer)
    {
        if (result != 0)
            throw new NativeException($"nft {commands.Split('\n')[0]}", default, errorBuffer.Trim(), []);
    }

    private static NativeException Failure(string operation, Errno errno)
    {
        var buffer = stackalloc sbyte[256];
        var message = Libbpf.libbpf_strerror((int)errno, buffer, 256) == 0
            ? new string(buffer)
            : Marshal.GetPInvokeErrorMessage((int)errno);
        return new NativeException(operation, errno, message, LibbpfLog.TakeRecentWarnings());
    }
}
