using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>The bpf(2) system call itself, for what libbpf 1.1 cannot do.</summary>
internal static unsafe partial class Proxy
{
    /// <summary>
    /// bpf(2) with a command that creates a descriptor, such as BPF_LINK_CREATE for a netfilter link
    /// (libbpf 1.1 cannot build one). <paramref name="operation"/> says what the command does, for the error.
    /// </summary>
    public static SafeFileHandle bpf<TAttr>(int command, in TAttr attr, string operation) where TAttr : unmanaged
    {
        fixed (TAttr* attributes = &attr)
        {
            var fd = Ensure.Syscall(Libc.syscall(Libc.SYS_bpf, command, attributes, (uint)sizeof(TAttr)), operation);
            return new SafeFileHandle((nint)fd, ownsHandle: true);
        }
    }
}
