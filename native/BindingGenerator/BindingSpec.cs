using System.Text.Json.Serialization;

namespace Tracer.BindingGenerator;

/// <summary>
/// native/bindings.json: which declarations of which headers become which C# file, and the file that
/// describes the compiled BPF objects.
/// </summary>
internal sealed record BindingSpec(
    [property: JsonPropertyName("outputs")] List<OutputSpec> Outputs,
    [property: JsonPropertyName("bpfObjects")] string BpfObjects);

internal sealed record OutputSpec(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("class")] string? Class, // holds the functions and constants; an output of types alone has none
    [property: JsonPropertyName("library")] string? Library,
    [property: JsonPropertyName("includes")] List<string> Includes,
    [property: JsonPropertyName("functions")] List<string>? Functions,
    [property: JsonPropertyName("structs")] List<string>? Structs,
    [property: JsonPropertyName("enums")] List<string>? Enums,
    [property: JsonPropertyName("constants")] List<string>? Constants,
    [property: JsonPropertyName("macroEnums")] List<MacroEnumSpec>? MacroEnums);

/// <summary>A C# enum gathered from values C leaves loose: macros such as errno.h's E* values, or members of an anonymous enum such as IPPROTO_*.</summary>
internal sealed record MacroEnumSpec(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("macros")] List<string> Macros);

[JsonSourceGenerationOptions(ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip)]
[JsonSerializable(typeof(BindingSpec))]
internal sealed partial class SpecJsonContext : JsonSerializerContext;
