using System.Reflection;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Native;

/// <summary>
/// Generated/BpfObjects.g.cs must describe the objects embedded in the executable: libbpf opens each (no kernel
/// involved before loading) and finds every program and map it names, and the object has no program it omits.
/// </summary>
[UnitTest]
public sealed class BpfObjectsTests
{
    /// <summary>Every generated description: a class with a File constant and Programs and Maps classes.</summary>
    private static readonly Type[] Described = typeof(BpfObject).Assembly.GetTypes()
        .Where(t => t.Namespace == "Tracer.Native" && t.GetNestedType("Maps") is not null && t.GetField("File") is not null).ToArray();

    public static TheoryData<string> Descriptions() => [.. Described.Select(t => t.Name)];

    [Fact]
    public void EveryEmbeddedObjectIsDescribed()
    {
        var embedded = typeof(BpfObject).Assembly.GetManifestResourceNames().Where(n => n.EndsWith(".bpf.o", StringComparison.Ordinal));

        Assert.Equal(embedded.Order(), Described.Select(File).Order());
    }

    [Theory]
    [MemberData(nameof(Descriptions))]
    public void TheObjectHasExactlyTheProgramsAndTheMapsItsDescriptionNames(string description)
    {
        var type = Description(description);
        using var obj = EmbeddedObjects.Open(File(type));
        var programs = Names(type, "Programs");

        Assert.Equal(programs.Values.Order(), obj.Programs.Select(p => p.Name).Order());
        Assert.Equal(programs.Keys.Order(), Names(type, "Sections").Keys.Order());
        foreach (var map in Names(type, "Maps").Values)
            Assert.True(obj.MaxEntries(map) > 0, map); // found by name, or it throws
    }

    private static Type Description(string name) => typeof(BpfObject).Assembly.GetType($"Tracer.Native.{name}")!;

    private static string File(Type description) => (string)description.GetField("File")!.GetRawConstantValue()!;

    private static Dictionary<string, string> Names(Type description, string kind) =>
        description.GetNestedType(kind)!.GetFields(BindingFlags.Public | BindingFlags.Static)
            .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!);
}
