namespace Tracer.Native;

/// <summary>A native call failed (libbpf, bpf(2), libc, libnftables, libmnl). Carries errno and what libbpf logged while it ran.</summary>
internal sealed class NativeException(string operation, int errno, string message, IReadOnlyList<string> libbpfLog)
    : Exception($"{operation} failed: {message} (errno {errno})")
{
    public string Operation { get; } = operation;

    public int Errno { get; } = errno;

    /// <summary>libbpf's own warnings for the failed call, such as the verifier log.</summary>
    public IReadOnlyList<string> LibbpfLog { get; } = libbpfLog;

    /// <summary>The kernel refused for lack of privilege or policy (EPERM, EACCES).</summary>
    public bool IsPermissionDenied => Errno is 1 or 13;
}
