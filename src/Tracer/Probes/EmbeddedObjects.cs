using Tracer.Native;

namespace Tracer.Probes;

/// <summary>The compiled bpf/*.bpf.o objects, embedded in the executable at build time (their names: <c>*Object.File</c>).</summary>
internal static class EmbeddedObjects
{
    /// <summary>Opens an object, named as its file without <c>.bpf.o</c>; nothing is loaded into the kernel yet.</summary>
    public static BpfObject Open(string fileName)
    {
        using var stream = typeof(EmbeddedObjects).Assembly.GetManifestResourceStream(fileName)
            ?? throw new InvalidOperationException($"{fileName} is not embedded; build with ./build.sh");
        var image = new byte[stream.Length];
        stream.ReadExactly(image);
        return BpfObject.Open(image, fileName[..fileName.IndexOf('.', StringComparison.Ordinal)]);
    }

    /// <summary>
    /// Opens an object, lets <paramref name="configure"/> prepare it, loads it and hands it to <paramref name="create"/>
    /// (which owns it from then on); the object is closed again when any of them fails.
    /// </summary>
    public static T Load<T>(string fileName, Action<BpfObject> configure, Func<BpfObject, T> create)
    {
        var obj = Open(fileName);
        try
        {
            configure(obj);
            obj.Load();
            return create(obj);
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }
}
