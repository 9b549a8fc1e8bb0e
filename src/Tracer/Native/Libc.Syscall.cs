using System.Runtime.InteropServices;

namespace Tracer.Native;

internal static unsafe partial class Libc
{
    // syscall(2) is variadic, which the generator refuses. On x86-64 and arm64 Linux a
    // fixed-argument declaration passes its arguments in the same registers.
    [LibraryImport(LibraryName, EntryPoint = "syscall", SetLastError = true)]
    public static partial long syscall(long number, long command, void* attr, uint size);

    // open(2) is variadic too (the mode argument); without O_CREAT it is never read.
    [LibraryImport(LibraryName, EntryPoint = "open", SetLastError = true)]
    public static partial int open(sbyte* path, int flags);
}
