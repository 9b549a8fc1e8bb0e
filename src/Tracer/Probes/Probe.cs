using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// The life every probe has (the BPF-backed ones and <see cref="NftablesTrace"/>, which is netlink):
/// <list type="number">
/// <item><b>Load</b>: a static factory named <c>Load</c>. Throws (<see cref="NativeException"/>,
/// <see cref="DllNotFoundException"/>) when the kernel or the node refuses it, leaving nothing behind.</item>
/// <item><b>Attach</b>: starts it running, a method named <c>Attach</c>. What is armed on demand attaches where it is
/// asked instead (<see cref="NetfilterSentinels.EnsureAt"/>, <see cref="NftablesTrace.Mark"/>), and the exact tier
/// only so (<see cref="NetfilterVerdicts.ObserveOnly"/>: it loads one object per observed function).</item>
/// <item><b>Read</b>: each probe's own methods (<see cref="DropProbe.Drain"/>, <see cref="NetfilterHookTables.Read"/>, …).</item>
/// <item><b>Dispose</b>: detaches and unloads; idempotent.</item>
/// </list>
/// </summary>
internal interface IProbe : IDisposable;

/// <summary>A probe that loaded (and attached, if asked), or why it did not.</summary>
internal readonly record struct Loaded<T>(T? Probe, string? Refusal) where T : class, IProbe;

internal static class Probe
{
    /// <summary>
    /// Loads an optional probe and, given <paramref name="attach"/>, attaches it: a refusal of either becomes
    /// its reason; a probe that fails to attach is disposed. Anything but a refusal is thrown.
    /// </summary>
    public static Loaded<T> TryLoad<T>(Func<T> load, Action<T>? attach = null) where T : class, IProbe
    {
        T? probe = null;
        try
        {
            probe = load();
            attach?.Invoke(probe);
            return new Loaded<T>(probe, null);
        }
        catch (Exception e)
        {
            probe?.Dispose();
            if (e is not (NativeException or DllNotFoundException))
                throw;
            return new Loaded<T>(null, e.Message);
        }
    }
}
