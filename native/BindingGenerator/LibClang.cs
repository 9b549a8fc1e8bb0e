using System.Runtime.InteropServices;

namespace Tracer.BindingGenerator;

// The slice of libclang's C API (clang-c/Index.h) the generator walks headers with.
// Hand-declared: this is the bootstrap the generated bindings are built from.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public CXCursorKind kind;
    public int xdata;
    public void* data0, data1, data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public CXTypeKind kind;
    public void* data0, data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* data;
    public uint private_flags;
}

internal enum CXCursorKind
{
    StructDecl = 2,
    UnionDecl = 3,
    EnumDecl = 5,
    FieldDecl = 6,
    EnumConstantDecl = 7,
    FunctionDecl = 8,
    VarDecl = 9,
    ParmDecl = 10,
    TypedefDecl = 20,
}

internal enum CXTypeKind
{
    Invalid = 0,
    Void = 2,
    Bool = 3,
    Char_U = 4,
    UChar = 5,
    UShort = 8,
    UInt = 9,
    ULong = 10,
    ULongLong = 11,
    Char_S = 13,
    SChar = 14,
    Short = 16,
    Int = 17,
    Long = 18,
    LongLong = 19,
    Float = 21,
    Double = 22,
    Pointer = 101,
    Record = 105,
    Enum = 106,
    Typedef = 107,
    FunctionNoProto = 110,
    FunctionProto = 111,
    ConstantArray = 112,
    IncompleteArray = 114,
    Elaborated = 119,
}

internal enum CXChildVisitResult
{
    Break = 0,
    Continue = 1,
    Recurse = 2,
}

internal static unsafe partial class LibClang
{
    private const string Library = "libclang";

    public const uint CXTranslationUnit_DetailedPreprocessingRecord = 0x01;
    public const uint CXTranslationUnit_SkipFunctionBodies = 0x40;

    [LibraryImport(Library)] public static partial void* clang_createIndex(int excludeDeclarationsFromPCH, int displayDiagnostics);
    [LibraryImport(Library)] public static partial void clang_disposeIndex(void* index);
    [LibraryImport(Library)] public static partial void* clang_parseTranslationUnit(void* index, sbyte* source_filename, sbyte** command_line_args, int num_command_line_args, void* unsaved_files, uint num_unsaved_files, uint options);
    [LibraryImport(Library)] public static partial void clang_disposeTranslationUnit(void* unit);
    [LibraryImport(Library)] public static partial uint clang_getNumDiagnostics(void* unit);
    [LibraryImport(Library)] public static partial void* clang_getDiagnostic(void* unit, uint index);
    [LibraryImport(Library)] public static partial int clang_getDiagnosticSeverity(void* diagnostic);
    [LibraryImport(Library)] public static partial CXString clang_formatDiagnostic(void* diagnostic, uint options);
    [LibraryImport(Library)] public static partial void clang_disposeDiagnostic(void* diagnostic);
    [LibraryImport(Library)] public static partial CXCursor clang_getTranslationUnitCursor(void* unit);
    [LibraryImport(Library)] public static partial uint clang_visitChildren(CXCursor parent, delegate* unmanaged<CXCursor, CXCursor, void*, CXChildVisitResult> visitor, void* client_data);
    [LibraryImport(Library)] public static partial CXString clang_getCursorSpelling(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getCursorType(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getCursorResultType(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_isCursorDefinition(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isAnonymousRecordDecl(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isBitField(CXCursor cursor);
    [LibraryImport(Library)] public static partial int clang_getFieldDeclBitWidth(CXCursor cursor);
    [LibraryImport(Library)] public static partial int clang_Cursor_getNumArguments(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXCursor clang_Cursor_getArgument(CXCursor cursor, uint index);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isVariadic(CXCursor cursor);
    [LibraryImport(Library)] public static partial long clang_getEnumConstantDeclValue(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getEnumDeclIntegerType(CXCursor cursor);
    [LibraryImport(Library)] public static partial void* clang_Cursor_Evaluate(CXCursor cursor);
    [LibraryImport(Library)] public static partial long clang_EvalResult_getAsLongLong(void* result);
    [LibraryImport(Library)] public static partial void clang_EvalResult_dispose(void* result);
    [LibraryImport(Library)] public static partial CXType clang_getCanonicalType(CXType type);
    [LibraryImport(Library)] public static partial CXString clang_getTypeSpelling(CXType type);
    [LibraryImport(Library)] public static partial CXCursor clang_getTypeDeclaration(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getPointeeType(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getArrayElementType(CXType type);
    [LibraryImport(Library)] public static partial long clang_getArraySize(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getResultType(CXType type);
    [LibraryImport(Library)] public static partial int clang_getNumArgTypes(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getArgType(CXType type, uint index);
    [LibraryImport(Library)] public static partial long clang_Type_getSizeOf(CXType type);
    [LibraryImport(Library)] public static partial long clang_Type_getOffsetOf(CXType type, sbyte* field);
    [LibraryImport(Library)] public static partial sbyte* clang_getCString(CXString value);
    [LibraryImport(Library)] public static partial void clang_disposeString(CXString value);

    public static string Consume(CXString value)
    {
        var text = Marshal.PtrToStringUTF8((nint)clang_getCString(value)) ?? "";
        clang_disposeString(value);
        return text;
    }

    public static string Spelling(CXCursor cursor) => Consume(clang_getCursorSpelling(cursor));

    public static string Spelling(CXType type) => Consume(clang_getTypeSpelling(type));

    public static List<CXCursor> Children(CXCursor parent)
    {
        var children = new List<CXCursor>();
        var handle = GCHandle.Alloc(children);
        try
        {
            clang_visitChildren(parent, &Collect, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    [UnmanagedCallersOnly]
    private static CXChildVisitResult Collect(CXCursor cursor, CXCursor parent, void* clientData)
    {
        ((List<CXCursor>)GCHandle.FromIntPtr((nint)clientData).Target!).Add(cursor);
        return CXChildVisitResult.Continue;
    }
}
