using System.Text.Json;
using Tracer.BindingGenerator;

// Generates C# P/Invoke bindings from C headers with libclang, driven by an allow-list.
// and describes the compiled BPF objects (programs, maps) for the code that loads them.
// Usage: BindingGenerator <bindings.json> <repository root> <directory of *.bpf.o> [-I<dir> | -isystem <dir> | -D<name>]...
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: BindingGenerator <bindings.json> <repository root> <directory of *.bpf.o> [clang arguments]");
    return 2;
}

var spec = JsonSerializer.Deserialize(File.ReadAllText(args[0]), SpecJsonContext.Default.BindingSpec)
    ?? throw new InvalidDataException($"{args[0]} is empty");
var root = Path.GetFullPath(args[1]);
var bpfObjects = args[2];
var clangArguments = args.Skip(3).ToArray();

// Types shared by several outputs (an opaque struct nlmsghdr, say) are emitted by the first only.
var emitted = new HashSet<string>(StringComparer.Ordinal);
foreach (var output in spec.Outputs)
{
    using var unit = TranslationUnit.Parse(output, clangArguments);
    string code;
    HeaderModel model;
    try
    {
        model = HeaderModel.Build(unit, output);
        model.RemoveTypes(emitted);
        code = CSharpEmitter.Emit(model, output);
    }
    catch (InvalidOperationException e) // a declaration C# cannot express (or a name the headers lack): refuse, never drop it
    {
        Console.Error.WriteLine($"BindingGenerator: {output.File}: {e.Message}");
        return 1;
    }
    emitted.UnionWith(model.Structs.Keys);
    emitted.UnionWith(model.Enums.Keys);
    var path = Path.Combine(root, output.File);
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    File.WriteAllText(path, code);
    Console.WriteLine($"wrote {output.File}: {model.Structs.Count} structs, {model.Enums.Count} enums, " +
                      $"{model.Functions.Count} functions, {model.Constants.Count} constants");
}

var objects = Directory.GetFiles(bpfObjects, "*.bpf.o").Order(StringComparer.Ordinal).Select(BpfObjectModel.Read).ToList();
if (objects.Count == 0)
{
    Console.Error.WriteLine($"BindingGenerator: no *.bpf.o in {bpfObjects}");
    return 1;
}
File.WriteAllText(Path.Combine(root, spec.BpfObjects), BpfObjectEmitter.Emit(objects));
Console.WriteLine($"wrote {spec.BpfObjects}: {objects.Count} objects, {objects.Sum(o => o.Programs.Count)} programs, {objects.Sum(o => o.Maps.Count)} maps");
return 0;
