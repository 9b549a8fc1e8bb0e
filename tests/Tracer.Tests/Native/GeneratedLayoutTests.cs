using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Native;

/// <summary>
/// The generated C# must say what the C compiler says, or every map read is garbage and every flag wrong.
/// A C program, compiled from the same headers the generator read, prints sizeof and offsetof of every
/// generated struct and field, the bits of every bitfield, and the value of every generated constant and
/// enum member; the C# must match exactly.
/// </summary>
[UnitTest]
public sealed class GeneratedLayoutTests
{
    private static readonly Type[] Structs = GeneratedTypes("struct ")
        .Where(t => t.GetFields(BindingFlags.Public | BindingFlags.Instance).Length > 0) // opaque handles have no layout
        .ToArray();

    /// <summary>C enums ("enum x") and enums gathered from macros ("#define").</summary>
    private static readonly Type[] Enums = GeneratedTypes("").Where(t => t.IsEnum).ToArray();

    [Fact]
    public void EventStructsAreGenerated()
    {
        var names = Structs.Select(t => t.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "drop_key", "drop_stats", "drop_sample", "watch_key", "tracer_config" }, names);
    }

    [Fact]
    public void EveryGeneratedDeclarationMatchesTheCCompiler()
    {
        var expected = CFacts();
        var mismatches = new List<string>();
        void Compare(string key, string actual)
        {
            if (!expected.TryGetValue(key, out var c))
                mismatches.Add($"{key}: not printed by the C program");
            else if (c != actual)
                mismatches.Add($"{key}: C says {c}, C# says {actual}");
        }

        foreach (var type in Structs)
        {
            var cName = CName(type);
            Compare($"sizeof {cName}", Marshal.SizeOf(type).ToString(Invariant));
            foreach (var field in Fields(type))
                Compare($"offsetof {cName}.{field.Name.TrimStart('@')}", field.GetCustomAttribute<FieldOffsetAttribute>()!.Value.ToString(Invariant));
            foreach (var bitfield in Bitfields(type))
                Compare($"bits {cName}.{bitfield.Name.TrimStart('@')}", Bits(type, bitfield));
        }
        foreach (var (type, name) in Constants())
            Compare($"value {name}", Number(type.GetField(name)!.GetRawConstantValue()!).ToString(Invariant));
        foreach (var type in Enums)
            foreach (var name in Enum.GetNames(type))
                Compare($"value {name}", Number(Convert.ChangeType(Enum.Parse(type, name), Enum.GetUnderlyingType(type), Invariant)).ToString(Invariant));

        Assert.Empty(mismatches);
    }

    private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;

    private static IEnumerable<Type> GeneratedTypes(string kind) => typeof(NativeTypeNameAttribute).Assembly.GetTypes()
        .Where(t => t.IsValueType && t.GetCustomAttribute<NativeTypeNameAttribute>()?.Name.StartsWith(kind, StringComparison.Ordinal) == true)
        .OrderBy(t => t.Name, StringComparer.Ordinal);

    private static string CName(Type type) => type.GetCustomAttribute<NativeTypeNameAttribute>()!.Name["struct ".Length..];

    private static FieldInfo[] Fields(Type type) => type.GetFields(BindingFlags.Public | BindingFlags.Instance);

    /// <summary>A generated struct's properties are its C bitfields (their storage units are private fields).</summary>
    private static PropertyInfo[] Bitfields(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance);

    /// <summary>"lowest bit:width" of a bitfield set to all ones in an otherwise zero struct, as the C program prints it.</summary>
    private static string Bits(Type type, PropertyInfo bitfield)
    {
        var value = Activator.CreateInstance(type)!;
        bitfield.SetValue(value, bitfield.PropertyType.GetField("MaxValue")!.GetValue(null));
        var size = Marshal.SizeOf(type);
        var memory = Marshal.AllocHGlobal(size);
        try
        {
            Marshal.StructureToPtr(value, memory, fDeleteOld: false);
            var bytes = new byte[size];
            Marshal.Copy(memory, bytes, 0, size);
            var set = Enumerable.Range(0, size * 8).Where(i => (bytes[i / 8] >> (i % 8) & 1) != 0).ToList();
            return $"{(set.Count > 0 ? set[0] : -1)}:{set.Count}";
        }
        finally
        {
            Marshal.FreeHGlobal(memory);
        }
    }

    private static long Number(object value) => value is ulong u ? unchecked((long)u) : Convert.ToInt64(value, Invariant);

    /// <summary>Compiles and runs the C side; returns "sizeof s", "offsetof s.f", "bits s.f" and "value NAME" → what C says.</summary>
    private static Dictionary<string, string> CFacts()
    {
        var source = new StringBuilder("#define _GNU_SOURCE\n#include <linux/types.h>\n#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n");
        foreach (var include in Spec().SelectMany(o => o.GetProperty("includes").EnumerateArray().Select(i => i.GetString()!)).Distinct())
            source.Append($"#include <{include}>\n");
        source.Append("""
            static void bits(const char *name, const unsigned char *bytes, size_t size) {
              int low = -1, width = 0;
              for (size_t i = 0; i < size * 8; i++)
                if (bytes[i / 8] >> (i % 8) & 1) { if (low < 0) low = (int)i; width++; }
              printf("bits %s %d:%d\n", name, low, width);
            }
            int main(void) {

            """);
        foreach (var type in Structs)
        {
            var cName = CName(type);
            source.Append($"  printf(\"sizeof {cName} %zu\\n\", sizeof(struct {cName}));\n");
            foreach (var field in Fields(type))
            {
                var f = field.Name.TrimStart('@');
                source.Append($"  printf(\"offsetof {cName}.{f} %zu\\n\", offsetof(struct {cName}, {f}));\n");
            }
            foreach (var bitfield in Bitfields(type))
            {
                var f = bitfield.Name.TrimStart('@');
                source.Append($"  {{ struct {cName} v; memset(&v, 0, sizeof v); v.{f} = -1; bits(\"{cName}.{f}\", (const unsigned char *)&v, sizeof v); }}\n");
            }
        }
        foreach (var name in Constants().Select(c => c.Name).Concat(Enums.SelectMany(Enum.GetNames)))
            source.Append($"  printf(\"value {name} %lld\\n\", (long long)({name}));\n");
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
                .ToDictionary(line => line[..line.LastIndexOf(' ')], line => line[(line.LastIndexOf(' ') + 1)..]);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The constants the generator was asked for, with the class that holds each.</summary>
    private static IEnumerable<(Type Class, string Name)> Constants() => Spec()
        .Where(o => o.TryGetProperty("constants", out _))
        .SelectMany(o => o.GetProperty("constants").EnumerateArray().Select(c =>
            (typeof(NativeTypeNameAttribute).Assembly.GetType($"Tracer.Native.{o.GetProperty("class").GetString()}", throwOnError: true)!, c.GetString()!)));

    /// <summary>The outputs of the allow-list the generator used.</summary>
    private static List<JsonElement> Spec()
    {
        using var spec = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "native", "bindings.json")));
        return spec.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.Clone()).ToList();
    }
}
