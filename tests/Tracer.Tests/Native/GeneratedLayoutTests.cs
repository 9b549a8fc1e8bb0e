using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Native;

/// <summary>
/// The generated C# structs must have the C compiler's layout, or every map read is garbage.
/// A C program, compiled from the same headers the generator read, prints sizeof and offsetof
/// of every generated struct and field; the C# layouts must match exactly.
/// </summary>
[UnitTest]
public sealed class GeneratedLayoutTests
{
    private static readonly Type[] Structs = typeof(NativeTypeNameAttribute).Assembly.GetTypes()
        .Where(t => t.IsValueType && t.GetCustomAttribute<NativeTypeNameAttribute>()?.Name.StartsWith("struct ", StringComparison.Ordinal) == true)
        .Where(t => t.GetFields(BindingFlags.Public | BindingFlags.Instance).Length > 0) // opaque handles have no layout
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .ToArray();

    [Fact]
    public void EventStructsAreGenerated()
    {
        var names = Structs.Select(t => t.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "drop_key", "drop_stats", "drop_sample", "watch_key", "tracer_config" }, names);
    }

    [Fact]
    public void EveryGeneratedStructMatchesTheCCompilersLayout()
    {
        var expected = CLayouts();
        var mismatches = new List<string>();
        foreach (var type in Structs)
        {
            var cName = type.GetCustomAttribute<NativeTypeNameAttribute>()!.Name["struct ".Length..];
            Compare($"{cName}", Marshal.SizeOf(type), expected, mismatches);
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
                Compare($"{cName}.{field.Name.TrimStart('@')}", field.GetCustomAttribute<FieldOffsetAttribute>()!.Value, expected, mismatches);
        }
        Assert.Empty(mismatches);
    }

    private static void Compare(string name, long actual, Dictionary<string, long> expected, List<string> mismatches)
    {
        if (!expected.TryGetValue(name, out var c))
            mismatches.Add($"{name}: not printed by the C program");
        else if (c != actual)
            mismatches.Add($"{name}: C says {c}, C# says {actual}");
    }

    /// <summary>Compiles and runs the C side; returns "struct" → sizeof and "struct.field" → offsetof.</summary>
    private static Dictionary<string, long> CLayouts()
    {
        var source = new StringBuilder("#define _GNU_SOURCE\n#include <linux/types.h>\n#include <stdio.h>\n#include <stddef.h>\n");
        foreach (var include in Includes())
            source.Append($"#include <{include}>\n");
        source.Append("int main(void) {\n");
        foreach (var type in Structs)
        {
            var cName = type.GetCustomAttribute<NativeTypeNameAttribute>()!.Name["struct ".Length..];
            source.Append($"  printf(\"{cName} %zu\\n\", sizeof(struct {cName}));\n");
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            {
                var f = field.Name.TrimStart('@');
                source.Append($"  printf(\"{cName}.{f} %zu\\n\", offsetof(struct {cName}, {f}));\n");
            }
        }
        source.Append("  return 0;\n}\n");

        var directory = Directory.CreateTempSubdirectory("tracer-layout-");
        try
        {
            var program = Path.Combine(directory.FullName, "layout");
            File.WriteAllText(program + ".c", source.ToString());
            Shell.Check("cc", "-o", program, program + ".c",
                        "-I", Path.Combine(RepositoryPaths.Root, "bpf", "include"),
                        "-I", Path.Combine(RepositoryPaths.Root, "native", "include"));
            return Shell.Check(program).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(parts => parts[0], parts => long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The headers the generator read, from the same allow-list it used.</summary>
    private static IEnumerable<string> Includes()
    {
        using var spec = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "native", "bindings.json")));
        return spec.RootElement.GetProperty("outputs").EnumerateArray()
            .SelectMany(o => o.GetProperty("includes").EnumerateArray().Select(i => i.GetString()!))
            .Distinct()
            .ToList();
    }
}
