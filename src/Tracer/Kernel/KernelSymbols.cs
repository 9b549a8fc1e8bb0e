using System.Globalization;
using Tracer.Errors;

namespace Tracer.Kernel;

/// <summary>A kernel text address resolved to its function, offset and module.</summary>
internal readonly record struct KernelSymbol(string Name, ulong Offset, string? Module)
{
    /// <summary>True for code loaded by a module rather than built into the kernel image.</summary>
    public bool IsModule => Module is not null and not "bpf" and not "__builtin__ftrace";

    /// <summary>True for a JIT-compiled BPF program (<c>bpf_prog_&lt;tag&gt;_&lt;name&gt;</c>).</summary>
    public bool IsBpfProgram => Module == "bpf";

    public override string ToString() =>
        Module is null ? $"{Name}+0x{Offset:x}" : $"{Name}+0x{Offset:x} [{Module}]";
}

/// <summary>
/// Symbolizer over /proc/kallsyms, including module and <c>[bpf]</c> symbols.
/// Only text symbols are kept: drop locations and hook functions are code.
/// </summary>
internal sealed class KernelSymbols
{
    public const string DefaultPath = "/proc/kallsyms";

    private readonly ulong[] _addresses;
    private readonly string[] _names;
    private readonly string?[] _modules;

    private KernelSymbols(ulong[] addresses, string[] names, string?[] modules)
    {
        _addresses = addresses;
        _names = names;
        _modules = modules;
    }

    public int Count => _addresses.Length;

    public static KernelSymbols Load(string path = DefaultPath)
    {
        using var reader = new StreamReader(path);
        var symbols = Parse(reader);
        if (symbols.Count == 0)
            throw new UserError(
                $"{path} shows this process no addresses (kernel.kptr_restrict hides them without CAP_SYSLOG): Tracer could not name drop locations.",
                $"Run it as root with CAP_SYSLOG; see {UserError.PermissionsSection}.", ExitCodes.MissingPrivilegeOrFeature);
        return symbols;
    }

    public static KernelSymbols Parse(TextReader reader)
    {
        var entries = new List<(ulong Address, string Name, string? Module)>(capacity: 1 << 17);
        var modules = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            // "ffffffffc0a01000 t edr_hook\t[edr_agent]"
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || parts[1].Length != 1 || "tTwW".IndexOf(parts[1][0], StringComparison.Ordinal) < 0)
                continue;
            if (!ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var address) || address == 0)
                continue;
            string? module = null;
            if (parts.Length > 3 && parts[3].StartsWith('[') && parts[3].EndsWith(']'))
            {
                var name = parts[3][1..^1];
                module = modules.TryGetValue(name, out var interned) ? interned : modules[name] = name;
            }
            entries.Add((address, parts[2], module));
        }
        entries.Sort((a, b) => a.Address.CompareTo(b.Address));
        return new KernelSymbols(
            entries.Select(e => e.Address).ToArray(),
            entries.Select(e => e.Name).ToArray(),
            entries.Select(e => e.Module).ToArray());
    }

    /// <summary>The symbol containing <paramref name="address"/>, or null below the first symbol.</summary>
    public KernelSymbol? Resolve(ulong address)
    {
        var index = Array.BinarySearch(_addresses, address);
        if (index < 0)
            index = ~index - 1;
        if (index < 0)
            return null;
        return new KernelSymbol(_names[index], address - _addresses[index], _modules[index]);
    }

    /// <summary>
    /// The address of a text symbol, or 0: the kernel image's if it has one, else a module's
    /// (nf_tables is a module on most distributions' kernels).
    /// </summary>
    public ulong AddressOf(string name)
    {
        var fromModule = 0UL;
        for (var i = 0; i < _names.Length; i++)
        {
            if (_names[i] != name)
                continue;
            if (_modules[i] is null)
                return _addresses[i];
            fromModule = fromModule == 0 ? _addresses[i] : fromModule;
        }
        return fromModule;
    }

    /// <summary>
    /// The address of a kernel data symbol (kept out of the table, which holds code), or 0 when kallsyms
    /// does not list it (kernels without CONFIG_KALLSYMS_ALL) or hides addresses.
    /// </summary>
    public static ulong DataAddress(string name, string path = DefaultPath)
    {
        foreach (var line in File.ReadLines(path))
        {
            // "ffffffff82a1b2c0 D secclass_map" (d/D data, r/R read-only data, b/B bss)
            var parts = line.Split(' ', 4);
            if (parts.Length >= 3 && parts[2] == name && parts[1].Length == 1 && "dDrRbB".Contains(parts[1][0], StringComparison.Ordinal) &&
                ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var address))
                return address;
        }
        return 0;
    }

    /// <summary><c>symbol+0xoff [module]</c>, or the bare address when nothing matches.</summary>
    public string Describe(ulong address) => Resolve(address)?.ToString() ?? $"0x{address:x}";
}
