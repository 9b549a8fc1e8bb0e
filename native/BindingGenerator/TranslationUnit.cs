using System.Runtime.InteropServices;
using System.Text;
using static Tracer.BindingGenerator.LibClang;

namespace Tracer.BindingGenerator;

/// <summary>
/// One parsed C source: the output's includes, plus a typed variable per requested
/// constant (and macro-enum member) so that macros and enumerators alike can be evaluated by clang.
/// </summary>
internal sealed unsafe class TranslationUnit : IDisposable
{
    public const string ConstantPrefix = "tracer_generated_constant_";

    private readonly void* _index;
    private readonly void* _unit;
    private readonly string _sourcePath;

    private TranslationUnit(void* index, void* unit, string sourcePath)
    {
        _index = index;
        _unit = unit;
        _sourcePath = sourcePath;
    }

    public CXCursor Cursor => clang_getTranslationUnitCursor(_unit);

    public static TranslationUnit Parse(OutputSpec output, string[] clangArguments)
    {
        var source = new StringBuilder("#define _GNU_SOURCE\n#include <linux/types.h>\n");
        foreach (var include in output.Includes)
            source.Append($"#include <{include}>\n");
        foreach (var constant in (output.Constants ?? []).Concat((output.MacroEnums ?? []).SelectMany(e => e.Macros)))
            source.Append($"static const __typeof__({constant}) {ConstantPrefix}{constant} = ({constant});\n");

        var sourcePath = Path.Combine(Path.GetTempPath(), $"tracer-bindings-{Environment.ProcessId}-{Path.GetFileNameWithoutExtension(output.File)}.c");
        File.WriteAllText(sourcePath, source.ToString());

        var arguments = clangArguments.Select(a => Marshal.StringToCoTaskMemUTF8(a)).ToArray();
        var path = Marshal.StringToCoTaskMemUTF8(sourcePath);
        var index = clang_createIndex(0, 0);
        try
        {
            void* unit;
            fixed (nint* argv = arguments)
                unit = clang_parseTranslationUnit(index, (sbyte*)path, (sbyte**)argv, arguments.Length, null, 0,
                                                  CXTranslationUnit_SkipFunctionBodies);
            if (unit == null)
                throw new InvalidOperationException($"libclang could not parse {sourcePath}");
            var parsed = new TranslationUnit(index, unit, sourcePath);
            parsed.ThrowOnErrors();
            return parsed;
        }
        finally
        {
            Marshal.FreeCoTaskMem(path);
            foreach (var argument in arguments)
                Marshal.FreeCoTaskMem(argument);
        }
    }

    private void ThrowOnErrors()
    {
        var errors = new List<string>();
        for (uint i = 0; i < clang_getNumDiagnostics(_unit); i++)
        {
            var diagnostic = clang_getDiagnostic(_unit, i);
            if (clang_getDiagnosticSeverity(diagnostic) >= 3) // CXDiagnostic_Error
                errors.Add(Consume(clang_formatDiagnostic(diagnostic, 0x1 | 0x2)));
            clang_disposeDiagnostic(diagnostic);
        }
        if (errors.Count > 0)
            throw new InvalidOperationException("clang reported errors:\n" + string.Join('\n', errors));
    }

    public void Dispose()
    {
        clang_disposeTranslationUnit(_unit);
        clang_disposeIndex(_index);
        File.Delete(_sourcePath);
    }
}
