namespace Tracer.Tests.Infrastructure;

/// <summary>
/// A bpffs of the test's own, mounted on a temporary directory: the host's /sys/fs/bpf is never touched. Unmounting it
/// removes every pin in it; the programs go when nothing else keeps them.
/// </summary>
internal sealed class TestBpffs : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("tracer-test-bpffs-").FullName;

    public TestBpffs()
    {
        try
        {
            Shell.Check("mount", "-t", "bpf", "bpf", Root);
        }
        catch
        {
            Directory.Delete(Root);
            throw;
        }
    }

    /// <summary>Loads a compiled tc program with bpftool, which pins it at <paramref name="relativePath"/> and exits; returns the pin's path.</summary>
    public string PinClassifier(string objectFile, string relativePath)
    {
        var pin = Path.Join(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(pin)!);
        Shell.Check("bpftool", "prog", "load", objectFile, pin, "type", "classifier");
        return pin;
    }

    public void Dispose()
    {
        Shell.Run("umount", Root);
        Directory.Delete(Root);
    }
}
