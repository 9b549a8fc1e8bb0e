namespace Tracer.Native;

/// <summary>Errnos the kernel returns to user space that no uapi or libc header defines.</summary>
internal static class KernelErrno
{
    /// <summary>
    /// Kernel-internal ENOTSUPP (include/linux/errno.h, not uapi), so the generator cannot read it from
    /// a header; bpf(2) leaks it when a program type or attach point is unsupported (e.g. no BPF trampoline).
    /// </summary>
    public const Errno ENOTSUPP = (Errno)524;
}
