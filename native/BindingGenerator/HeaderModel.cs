using System.Runtime.InteropServices;
using static Tracer.BindingGenerator.LibClang;

namespace Tracer.BindingGenerator;

/// <summary>
/// A field at a byte offset. A bitfield (<see cref="BitWidth"/> set) is <see cref="BitWidth"/> bits at
/// <see cref="BitShift"/> of the <see cref="Type"/>-sized storage unit at <see cref="Offset"/>.
/// </summary>
internal sealed record FieldModel(string Name, string Type, long Offset, long? FixedLength, int? BitShift = null, int? BitWidth = null);

internal sealed record StructModel(string Name, long Size, IReadOnlyList<FieldModel>? Fields)
{
    public bool IsOpaque => Fields is null;
}

/// <param name="NativeName">What C calls it: <c>enum bpf_prog_type</c>, or <c>#define</c> for an enum of loose macros or anonymous-enum members.</param>
internal sealed record EnumModel(string Name, string NativeName, string UnderlyingType, IReadOnlyList<(string Name, long Value)> Members);

internal sealed record FunctionModel(string Name, string ReturnType, IReadOnlyList<(string Name, string Type)> Parameters);

internal sealed record ConstantModel(string Name, string Type, long Value);

/// <summary>The declarations one output needs, with C types already mapped to blittable C#.</summary>
internal sealed unsafe class HeaderModel
{
    private readonly Dictionary<string, CXCursor> _records = [];
    private readonly Dictionary<string, CXCursor> _enums = [];
    private readonly Dictionary<string, CXCursor> _functions = [];
    private readonly Dictionary<string, CXCursor> _constants = [];
    private readonly Queue<string> _pendingStructs = new();
    private readonly HashSet<string> _opaqueCandidates = [];

    public SortedDictionary<string, StructModel> Structs { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, EnumModel> Enums { get; } = new(StringComparer.Ordinal);
    public List<FunctionModel> Functions { get; } = [];
    public List<ConstantModel> Constants { get; } = [];

    public static HeaderModel Build(TranslationUnit unit, OutputSpec output)
    {
        var model = new HeaderModel();
        model.Index(unit.Cursor);
        foreach (var name in output.Functions ?? [])
            model.AddFunction(name);
        foreach (var name in output.Structs ?? [])
            model._pendingStructs.Enqueue(name);
        foreach (var name in output.Enums ?? [])
            model.AddEnum(name);
        foreach (var name in output.Constants ?? [])
            model.AddConstant(name);
        foreach (var macroEnum in output.MacroEnums ?? [])
            model.AddMacroEnum(macroEnum);
        model.DrainStructs();
        foreach (var name in model._opaqueCandidates.Where(n => !model.Structs.ContainsKey(n)))
            model.Structs[name] = new StructModel(name, 0, null);
        return model;
    }

    /// <summary>Drops types another output already emitted into the same namespace.</summary>
    public void RemoveTypes(IReadOnlySet<string> names)
    {
        foreach (var name in names)
        {
            Structs.Remove(name);
            Enums.Remove(name);
        }
    }

    private void Index(CXCursor root)
    {
        foreach (var cursor in Children(root))
        {
            var name = Spelling(cursor);
            switch (cursor.kind)
            {
                case CXCursorKind.StructDecl or CXCursorKind.UnionDecl when clang_isCursorDefinition(cursor) != 0:
                    _records[name] = cursor;
                    break;
                case CXCursorKind.EnumDecl when clang_isCursorDefinition(cursor) != 0:
                    _enums[name] = cursor;
                    break;
                case CXCursorKind.FunctionDecl:
                    _functions.TryAdd(name, cursor);
                    break;
                case CXCursorKind.VarDecl when name.StartsWith(TranslationUnit.ConstantPrefix, StringComparison.Ordinal):
                    _constants[name[TranslationUnit.ConstantPrefix.Length..]] = cursor;
                    break;
            }
        }
    }

    private void AddFunction(string name)
    {
        if (!_functions.TryGetValue(name, out var cursor))
            throw new InvalidOperationException($"function {name} is not declared by the included headers");
        if (clang_Cursor_isVariadic(cursor) != 0)
            throw new InvalidOperationException($"function {name} is variadic; P/Invoke cannot call it portably");
        var parameters = new List<(string, string)>();
        for (uint i = 0; i < clang_Cursor_getNumArguments(cursor); i++)
        {
            var argument = clang_Cursor_getArgument(cursor, i);
            var argumentName = Spelling(argument);
            parameters.Add((argumentName.Length > 0 ? argumentName : $"arg{i}", MapType(clang_getCursorType(argument))));
        }
        Functions.Add(new FunctionModel(name, MapType(clang_getCursorResultType(cursor)), parameters));
    }

    private void AddEnum(string name)
    {
        if (Enums.ContainsKey(name))
            return;
        if (!_enums.TryGetValue(name, out var cursor))
            throw new InvalidOperationException($"enum {name} is not defined by the included headers");
        var members = Children(cursor)
            .Where(c => c.kind == CXCursorKind.EnumConstantDecl)
            .Select(c => (Spelling(c), clang_getEnumConstantDeclValue(c)))
            .ToList();
        Enums[name] = new EnumModel(name, $"enum {name}", MapType(clang_getEnumDeclIntegerType(cursor)), members);
    }

    private void AddConstant(string name) => Constants.Add(Evaluate(name));

    private void AddMacroEnum(MacroEnumSpec spec)
    {
        var members = spec.Macros.Select(Evaluate).ToList();
        var types = members.Select(m => m.Type).Distinct().ToList();
        if (types.Count != 1)
            throw new InvalidOperationException($"enum {spec.Name}: its macros have different types ({string.Join(", ", types)})");
        Enums[spec.Name] = new EnumModel(spec.Name, "#define", types[0], members.Select(m => (m.Name, m.Value)).ToList());
    }

    private ConstantModel Evaluate(string name)
    {
        if (!_constants.TryGetValue(name, out var cursor))
            throw new InvalidOperationException($"constant {name} is not defined by the included headers");
        var result = clang_Cursor_Evaluate(cursor);
        if (result == null)
            throw new InvalidOperationException($"constant {name} is not a compile-time integer");
        var value = clang_EvalResult_getAsLongLong(result);
        clang_EvalResult_dispose(result);
        return new ConstantModel(name, MapType(clang_getCursorType(cursor)), value);
    }

    private void DrainStructs()
    {
        while (_pendingStructs.TryDequeue(out var name))
        {
            if (Structs.TryGetValue(name, out var existing) && !existing.IsOpaque)
                continue;
            if (!_records.TryGetValue(name, out var cursor))
                throw new InvalidOperationException($"struct {name} is not defined by the included headers");
            var type = clang_getCursorType(cursor);
            var fields = new List<FieldModel>();
            CollectFields(name, cursor, type, fields);
            Structs[name] = new StructModel(name, clang_Type_getSizeOf(type), fields);
        }
    }

    /// <summary>Flattens anonymous struct/union members: offsets are taken from the outer type.</summary>
    private void CollectFields(string structName, CXCursor record, CXType outerType, List<FieldModel> fields)
    {
        foreach (var child in Children(record))
        {
            if (child.kind is CXCursorKind.StructDecl or CXCursorKind.UnionDecl &&
                clang_Cursor_isAnonymousRecordDecl(child) != 0)
            {
                CollectFields(structName, child, outerType, fields);
                continue;
            }
            if (child.kind != CXCursorKind.FieldDecl)
                continue;
            var name = Spelling(child);
            var fieldType = clang_getCanonicalType(clang_getCursorType(child));
            if (clang_Cursor_isBitField(child) != 0)
            {
                if (name.Length > 0) // an unnamed bitfield only pads
                    fields.Add(Bitfield(structName, name, MapType(fieldType), OffsetOf(outerType, name), clang_getFieldDeclBitWidth(child)));
                continue;
            }
            var offsetBits = OffsetOf(outerType, name);
            if (fieldType.kind == CXTypeKind.ConstantArray)
            {
                var element = clang_getCanonicalType(clang_getArrayElementType(fieldType));
                fields.Add(new FieldModel(name, MapType(element), offsetBits / 8, clang_getArraySize(fieldType)));
            }
            else if (fieldType.kind == CXTypeKind.IncompleteArray)
            {
                continue; // flexible array member: no storage in the struct itself
            }
            else
            {
                fields.Add(new FieldModel(name, MapType(fieldType, byValue: true), offsetBits / 8, null));
            }
        }
    }

    private static readonly Dictionary<string, int> UnsignedSizes = new() { ["byte"] = 1, ["ushort"] = 2, ["uint"] = 4, ["ulong"] = 8 };

    /// <summary>
    /// A bitfield is read and written through the storage unit of its declared type that holds it
    /// (the SysV ABI never lets a bitfield straddle one); anything else is refused, not approximated.
    /// </summary>
    private static FieldModel Bitfield(string structName, string name, string type, long offsetBits, int width)
    {
        if (!UnsignedSizes.TryGetValue(type, out var size))
            throw new InvalidOperationException($"struct {structName}, field {name}: a bitfield of C# type {type} is not supported (only unsigned integers)");
        var unitBits = size * 8;
        var unit = offsetBits / unitBits;
        var shift = (int)(offsetBits - unit * unitBits);
        if (shift + width > unitBits)
            throw new InvalidOperationException($"struct {structName}, field {name}: the bitfield straddles two {type} storage units");
        return new FieldModel(name, type, unit * size, null, shift, width);
    }

    private static long OffsetOf(CXType type, string field)
    {
        var name = Marshal.StringToCoTaskMemUTF8(field);
        try
        {
            var offset = clang_Type_getOffsetOf(type, (sbyte*)name);
            if (offset < 0)
                throw new InvalidOperationException($"clang cannot place field {field} of {Spelling(type)} ({offset})");
            return offset;
        }
        finally
        {
            Marshal.FreeCoTaskMem(name);
        }
    }

    /// <summary>C type to C# type. Structs used by value are generated in full; behind a pointer, opaque if not requested.</summary>
    private string MapType(CXType type, bool byValue = false)
    {
        type = clang_getCanonicalType(type);
        switch (type.kind)
        {
            case CXTypeKind.Void: return "void";
            case CXTypeKind.Bool: return "byte";
            case CXTypeKind.Char_S or CXTypeKind.SChar: return "sbyte";
            case CXTypeKind.Char_U or CXTypeKind.UChar: return "byte";
            case CXTypeKind.Short: return "short";
            case CXTypeKind.UShort: return "ushort";
            case CXTypeKind.Int: return "int";
            case CXTypeKind.UInt: return "uint";
            case CXTypeKind.Long: return "nint";
            case CXTypeKind.ULong: return "nuint";
            case CXTypeKind.LongLong: return "long";
            case CXTypeKind.ULongLong: return "ulong";
            case CXTypeKind.Float: return "float";
            case CXTypeKind.Double: return "double";
            case CXTypeKind.Enum:
            {
                var name = Spelling(clang_getTypeDeclaration(type));
                AddEnum(name);
                return name;
            }
            case CXTypeKind.Record:
            {
                var name = Spelling(clang_getTypeDeclaration(type));
                if (name.Length == 0 || name.Contains(' '))
                    throw new InvalidOperationException($"anonymous record {Spelling(type)} has no C# name");
                if (byValue)
                    _pendingStructs.Enqueue(name);
                else
                    _opaqueCandidates.Add(name);
                return name;
            }
            case CXTypeKind.ConstantArray or CXTypeKind.IncompleteArray:
                return PointerTo(clang_getArrayElementType(type)); // a parameter: decays to a pointer
            case CXTypeKind.Pointer:
                return PointerTo(clang_getPointeeType(type));
            default:
                throw new InvalidOperationException($"no C# mapping for {Spelling(type)} ({type.kind})");
        }
    }

    private string PointerTo(CXType pointee)
    {
        pointee = clang_getCanonicalType(pointee);
        if (pointee.kind == CXTypeKind.FunctionProto)
        {
            var types = new List<string>();
            for (uint i = 0; i < clang_getNumArgTypes(pointee); i++)
                types.Add(MapType(clang_getArgType(pointee, i)));
            types.Add(MapType(clang_getResultType(pointee)));
            return $"delegate* unmanaged<{string.Join(", ", types)}>";
        }
        // va_list is a pointer to this compiler-internal record; vsnprintf takes it as is.
        if (pointee.kind == CXTypeKind.Record && Spelling(clang_getTypeDeclaration(pointee)) == "__va_list_tag")
            return "void*";
        return MapType(pointee) + "*";
    }
}
