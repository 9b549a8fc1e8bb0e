namespace Tracer.Native;

/// <summary>
/// A native call failed (libbpf, bpf(2), libc, libnftables, libmnl). Carries errno and what libbpf logged while it ran.
/// Made by <see cref="Ensure"/> only.
/// </summary>
internal sealed class NativeException(string operation, Errno errno, string message, IReadOnlyList<string> libbpfLog)
    : Exception($"{operation} failed: {message} (errno {(int)errno})")
{
    public string Operation { get; } = operation;

    public Errno Errno { get; } = errno;

    /// <summary>libbpf's own warnings for the failed call, such as the verifier log.</summary>
    public IReadOnlyList<string> LibbpfLog { get; } = libbpfLog;

    /// <summary>The kernel refused for lack of privilege or policy (EPERM, EACCES).</summary>
    public bool IsPermissionDenied => Errno is Errno.EPERM or Errno.EACCES;
}
