namespace Tracer.Attribution;

/// <summary>
/// A module's taint letters (<c>/sys/module/NAME/taint</c>) in words. The letters are those of the kernel's
/// <c>taint_flags</c> table (kernel/panic.c) marked as applying to modules, the only ones a module's taint shows;
/// the words follow Documentation/admin-guide/tainted-kernels.rst.
/// </summary>
internal static class ModuleTaints
{
    private static readonly Dictionary<char, string> Words = new()
    {
        ['P'] = "proprietary license",   // TAINT_PROPRIETARY_MODULE: a license the kernel does not know as GPL-compatible
        ['F'] = "force-loaded",          // TAINT_FORCED_MODULE: insmod -f
        ['C'] = "staging",               // TAINT_CRAP: a staging driver
        ['O'] = "out-of-tree",           // TAINT_OOT_MODULE: built outside the kernel tree (no intree=Y)
        ['E'] = "unsigned",              // TAINT_UNSIGNED_MODULE: no signature the kernel could verify
        ['K'] = "live patch",            // TAINT_LIVEPATCH
        ['X'] = "auxiliary (distribution-defined)", // TAINT_AUX
        ['T'] = "struct randomization",  // TAINT_RANDSTRUCT
        ['N'] = "in-kernel test",        // TAINT_TEST
        ['J'] = "fwctl debug operation", // TAINT_FWCTL
    };

    /// <summary>Each letter in words; a letter this table does not know, as "taint X".</summary>
    public static IReadOnlyList<string> Spell(string letters) =>
        [.. letters.Where(c => !char.IsWhiteSpace(c)).Select(c => Words.TryGetValue(c, out var words) ? words : $"taint {c}")];
}
