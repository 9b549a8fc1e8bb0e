using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>
/// The only caller of the generated imports (besides the SafeHandles' release): marshals strings and
/// handles, and turns every failure into a <see cref="NativeException"/> through <see cref="Ensure"/>.
/// One file per native library (Proxy.Libbpf.cs, Proxy.Bpf.cs for bpf(2) itself, Proxy.Libc.cs,
/// Proxy.Nftables.cs, Proxy.Mnl.cs, Proxy.Nftnl.cs); every method is named as the C function it
/// calls, so a reader can look it up in that library's headers. What composes several calls lives
/// in the wrapper types (<see cref="BpfObject"/>, <see cref="NftContext"/>, ...).
/// </summary>
internal static unsafe partial class Proxy
{
    // Before the first call into any library: libbpf's messages must reach LibbpfLog from the start.
    static Proxy() => LibbpfLog.Hook();

    private static byte[] Utf8(string text) => System.Text.Encoding.UTF8.GetBytes(text + '\0');

    /// <summary>A new SafeHandle owning what a libbpf, libnftables or libmnl constructor returned.</summary>
    private static THandle Own<THandle>(void* pointer) where THandle : SafeHandle, new()
    {
        var handle = new THandle();
        Marshal.InitHandle(handle, (nint)pointer);
        return handle;
    }
}
