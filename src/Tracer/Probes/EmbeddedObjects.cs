namespace Tracer.Probes;

/// <summary>The compiled bpf/*.bpf.o objects, embedded in the executable at build time.</summary>
internal static class EmbeddedObjects
{
    public static byte[] Read(string fileName)
    {
        using var stream = typeof(EmbeddedObjects).Assembly.GetManifestResourceStream(fileName)
            ?? throw new InvalidOperationException($"{fileName} is not embedded; build with ./build.sh");
        var image = new byte[stream.Length];
        stream.ReadExactly(image);
        return image;
    }
}
